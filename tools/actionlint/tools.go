//go:build tools

// Package tools pins actionlint, the workflow linter test/workflow.test.ts runs on
// .github/workflows. It is a module of its own so that its requirements never move the Pulumi
// CLI's (tools/go.mod), and it is built from the Go module proxy, never downloaded as a binary.
package tools

import _ "github.com/rhysd/actionlint/cmd/actionlint"
