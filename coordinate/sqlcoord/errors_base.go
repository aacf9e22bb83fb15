package sqlcoord

import "github.com/startline/startline/coordinate"

// errInvalidBase makes ErrInvalid match coordinate.ErrInvalid too.
var errInvalidBase = coordinate.ErrInvalid
