// Command libcni-driver runs one network configuration list operation through
// the reference libcni, the way a container runtime does, so cn2's plugins
// can be tested against it.
//
// Usage:
//
//	libcni-driver ADD|CHECK|DEL <conflist> <containerID> <netns> <ifname> <cacheDir>
//
// Plugins are looked up in the directories of $CNI_PATH. ADD prints the
// result as JSON on stdout. Any failure prints the error on stderr and
// exits 1.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/containernetworking/cni/libcni"
)

func main() {
	if len(os.Args) != 7 {
		fmt.Fprintln(os.Stderr, "usage: libcni-driver ADD|CHECK|DEL <conflist> <containerID> <netns> <ifname> <cacheDir>")
		os.Exit(2)
	}
	verb, confPath := os.Args[1], os.Args[2]
	rt := &libcni.RuntimeConf{
		ContainerID: os.Args[3],
		NetNS:       os.Args[4],
		IfName:      os.Args[5],
	}
	list, err := libcni.ConfListFromFile(confPath)
	if err != nil {
		fail("reading conflist", err)
	}
	cni := libcni.NewCNIConfigWithCacheDir(filepath.SplitList(os.Getenv("CNI_PATH")), os.Args[6], nil)
	ctx := context.Background()
	switch verb {
	case "ADD":
		res, err := cni.AddNetworkList(ctx, list, rt)
		if err != nil {
			fail("ADD", err)
		}
		out, err := json.Marshal(res)
		if err != nil {
			fail("encoding result", err)
		}
		fmt.Println(string(out))
	case "CHECK":
		if err := cni.CheckNetworkList(ctx, list, rt); err != nil {
			fail("CHECK", err)
		}
	case "DEL":
		if err := cni.DelNetworkList(ctx, list, rt); err != nil {
			fail("DEL", err)
		}
	default:
		fmt.Fprintf(os.Stderr, "unknown verb %q\n", verb)
		os.Exit(2)
	}
}

func fail(what string, err error) {
	fmt.Fprintf(os.Stderr, "%s: %v\n", what, err)
	os.Exit(1)
}
