package verify

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
)

func fmtSscan(s string, n *int) (int, error) { return fmt.Sscan(s, n) }
func itoa(n int) string                      { return strconv.Itoa(n) }
func putU64(b []byte, v uint64)              { binary.BigEndian.PutUint64(b, v) }
func errorIs(err, target error) bool         { return errors.Is(err, target) }
