//go:build tools

// Package tools pins the Go programs keyfleet builds instead of downloading: the Pulumi CLI at
// the release that matches the @pulumi/pulumi npm pin. scripts/keyfleet.sh builds it into
// .keyfleet/bin, stamping the version through sdk/v3's version package.
package tools

import (
	_ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
	_ "github.com/pulumi/pulumi/sdk/v3/go/common/version"
)
