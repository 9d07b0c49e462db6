//! One rtnetlink request sent from a detached process.
//!
//! The kernel handles a netlink request in the context of the process that
//! sends it, so a request that is slow in the kernel (deleting a link waits
//! for RCU grace periods) holds its sender for that long. [`send_detached`]
//! forks twice: the grandchild, in a session of its own and with every file
//! descriptor closed (it holds no pipe of the runtime and no lock of the IPAM
//! store), sends the prepared request in the caller's network namespace,
//! waits for the kernel's answer and exits; the intermediate child exits at
//! once and is reaped, so nothing is left to wait for.
//!
//! After `fork` in a process that may have threads, the children call only
//! async-signal-safe functions (`fork`, `setsid`, `close_range`, `socket`,
//! `sendto`, `recv`, `_exit`) and touch no memory but the request, which the
//! caller built before forking.

use std::io;

/// Sends `request` (a complete rtnetlink message) on a new `NETLINK_ROUTE`
/// socket from a detached process in the calling thread's network namespace.
/// Returns once that process is started; its outcome is not reported.
pub fn send_detached(request: &[u8]) -> io::Result<()> {
    // SAFETY: the child branch calls only async-signal-safe functions and
    // never returns (see `grandchild`).
    let pid = unsafe { libc::fork() };
    if pid == -1 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        // SAFETY: we are the freshly forked child.
        unsafe { intermediate(request) }
    }
    let mut status = 0;
    loop {
        // SAFETY: waits for our own child; `status` is a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            break;
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            // SIGCHLD ignored by the embedding process: the kernel reaped it.
            Some(libc::ECHILD) => return Ok(()),
            _ => return Err(e),
        }
    }
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
        Ok(())
    } else {
        Err(io::Error::other(
            "the detached process could not be started",
        ))
    }
}

/// The intermediate child: starts the grandchild and exits (1 if `fork`
/// failed, so that the caller falls back to doing the work itself).
///
/// # Safety
///
/// Only to be called in a child right after `fork`.
unsafe fn intermediate(request: &[u8]) -> ! {
    // SAFETY: async-signal-safe calls only.
    unsafe {
        match libc::fork() {
            0 => grandchild(request),
            -1 => libc::_exit(1),
            _ => libc::_exit(0),
        }
    }
}

/// The detached process: sends the request and waits for the answer.
///
/// # Safety
///
/// Only to be called in a child right after `fork`.
unsafe fn grandchild(request: &[u8]) -> ! {
    // SAFETY: async-signal-safe calls on memory owned by this process.
    unsafe {
        libc::setsid();
        if libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32) != 0 {
            // Kernels before 5.9: close what a plugin can have open.
            for fd in 0..1024 {
                libc::close(fd);
            }
        }
        let fd = libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        );
        if fd >= 0 {
            let mut kernel: libc::sockaddr_nl = std::mem::zeroed();
            kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
            let sent = libc::sendto(
                fd,
                request.as_ptr().cast(),
                request.len(),
                0,
                (&kernel as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            );
            if sent >= 0 {
                let mut answer = [0u8; 1024];
                libc::recv(fd, answer.as_mut_ptr().cast(), answer.len(), 0);
            }
        }
        libc::_exit(0)
    }
}
