//! CNI plugin entry point. The plugin is not implemented yet: every call
//! answers with a CNI error on stdout and a non-zero exit.

fn main() {
    println!(
        "{{\"cniVersion\":\"1.0.0\",\"code\":4,\"msg\":\"this plugin is not implemented yet\"}}"
    );
    std::process::exit(1);
}
