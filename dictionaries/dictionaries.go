// Package dictionaries embeds the FreeRADIUS-format dictionaries that name
// the attributes radmfa can put in an Access-Accept: the standard ones and
// Cisco, Fortinet, Palo Alto Networks, Microsoft and Juniper vendor ones.
package dictionaries

import "embed"

// FS holds the dictionary files; "dictionary" is the root that includes the rest.
//
//go:embed dictionary dictionary.*
var FS embed.FS

// Root is the name of the file that includes all the others.
const Root = "dictionary"
