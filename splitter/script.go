package splitter

// ScriptSet resolves the Lua policies a table's `lua` rules name. The
// policies package implements it; the splitter only depends on this.
type ScriptSet interface {
	// Bind prepares script name with the rule's args for repeated calls.
	// It fails when the script is unknown or did not compile, or when args
	// cannot be handed to Lua; the error says which.
	Bind(name string, args map[string]any) (Policy, error)
}

// Policy is a bound script: safe for concurrent use by many goroutines.
type Policy interface {
	// Split runs the script for r. ok is false when the script returned nil.
	// A script error or time-out is returned as err; the caller counts it
	// as no match. Split must not keep r or its strings after returning.
	Split(r *Request) (group string, ok bool, err error)
}
