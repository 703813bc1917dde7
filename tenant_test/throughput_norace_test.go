//go:build !race

package tenant_test

const raceBuild = false
