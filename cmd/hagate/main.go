package main

import (
	_ "github.com/Masterminds/sprig/v3"
	_ "github.com/google/renameio/v2"
	_ "github.com/spf13/cobra"
	_ "hagate.io/hagate/internal/snapshot"
	_ "sigs.k8s.io/yaml"
)

func main() {}
