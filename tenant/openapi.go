package tenant

import _ "embed"

//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the OpenAPI 3.1 description of the admin API (JSON).
func OpenAPI() []byte { return openAPI }
