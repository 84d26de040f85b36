package main

import (
	"switchyard/admin/ctl"
	"switchyard/gateway/fssim"
)

func init() {
	subcommands["sim-fs"] = fssim.Main
	subcommands["ctl"] = ctl.Main
}
