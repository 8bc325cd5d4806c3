package verify

import (
	"errors"
	"fmt"
	"strconv"
)

func fmtSscan(s string, n *int) (int, error) { return fmt.Sscan(s, n) }
func itoa(n int) string                      { return strconv.Itoa(n) }
func errorIs(err, target error) bool         { return errors.Is(err, target) }
