// Command etcd is the etcd server, built from the pinned module so that the
// local control plane needs no download of a release archive.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
