package verify

// SetMaxRootSteps bounds the root versions one refresh of c follows.
func SetMaxRootSteps(c *Client, n int) { c.maxRootSteps = n }
