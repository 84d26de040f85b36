package splitter

// yieldEvery is how many names a paced loop that does little per name
// (building the index) handles between two yields.
const yieldEvery = 256

// yielder returns the yield function of a new goroutine of a paced job
// (Env.Pace), or nil.
func (e Env) yielder() func() {
	if e.Pace == nil {
		return nil
	}
	return e.Pace()
}
