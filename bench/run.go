package bench

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
)

// Run runs cfg's workload and returns its report. Setup failures (bad
// configuration, a node that cannot be reached, a failed pre-fill) are
// returned as errors; failures during the measured run are in the
// Result (Errors, Aborted) and make Result.Failed true.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	nonce := uint16(rand.Uint32())
	logf := func(format string, a ...any) {
		if cfg.Log != nil {
			fmt.Fprintf(cfg.Log, format+"\n", a...)
		}
	}
	if cfg.Cleanup {
		n, err := drain(&cfg)
		if err != nil {
			return nil, fmt.Errorf("cleanup before the run: %w", err)
		}
		if n > 0 {
			logf("removed %d jobs left in the bench queues by an earlier run", n)
		}
	}
	jobs := cfg.Jobs
	if cfg.Duration > 0 {
		jobs = 0
	}
	spec := phaseSpec{
		pipeline: cfg.Pipeline, rate: cfg.Rate, duration: cfg.Duration,
		jobs: jobs, consFinal: true, measured: true, label: string(cfg.Workload),
	}
	switch cfg.Workload {
	case Produce:
		spec.producers, spec.openRole = cfg.Clients, roleProducer
	case Consume:
		filled, err := fill(ctx, &cfg, nonce)
		if err != nil {
			return nil, err
		}
		spec.consumers, spec.openRole = cfg.Clients, roleConsumer
		spec.jobs, spec.consLimit = 0, filled
	case Cycle, E2E:
		spec.producers, spec.consumers, spec.openRole = cfg.Clients-cfg.Consumers, cfg.Consumers, roleProducer
		spec.consFinal, spec.consLimit = false, jobs
		if jobs == 0 {
			spec.consLimit = math.MaxInt64
		}
		spec.track = cfg.Workload == E2E
	case Mixed:
		spec.mixed, spec.openRole = cfg.Clients, roleMixed
	}
	ph := newPhase(&cfg, spec, nonce)
	if err := ph.connect(ctx); err != nil {
		return nil, err
	}
	var prog *progress
	if cfg.Progress != nil {
		prog = newProgress(cfg.Progress, string(cfg.Workload), cfg.Workload == E2E)
	}
	pr := ph.run(ctx, prog)
	res := buildResult(&cfg, &spec, &pr)
	res.Leftover = -1
	if cfg.Cleanup {
		n, err := drain(&cfg)
		if err != nil {
			logf("cleanup after the run: %v", err)
		} else {
			res.Leftover = n
			if n > 0 && cfg.Workload != Produce && cfg.Workload != Mixed && res.Aborted == "" && cfg.Duration == 0 {
				logf("note: %d jobs were left in the bench queues", n)
			}
		}
	}
	return res, nil
}

// fill pre-fills the queues for consume (not measured) and returns the
// number of jobs queued.
func fill(ctx context.Context, cfg *Config, nonce uint16) (int64, error) {
	spec := phaseSpec{
		producers: cfg.Clients, pipeline: max(cfg.Pipeline, 64), jobs: cfg.Jobs,
		consFinal: true, label: "filling",
	}
	ph := newPhase(cfg, spec, nonce)
	if err := ph.connect(ctx); err != nil {
		return 0, err
	}
	var prog *progress
	if cfg.Progress != nil {
		prog = newProgress(cfg.Progress, "filling", false)
	}
	pr := ph.run(ctx, prog)
	if pr.abortErr != nil {
		return 0, fmt.Errorf("pre-filling the queue: %w", pr.abortErr)
	}
	if pr.errors > 0 {
		return 0, fmt.Errorf("pre-filling the queue: %d errors (%s)", pr.errors, firstSample(pr.errSample))
	}
	if cfg.Log != nil {
		fmt.Fprintf(cfg.Log, "pre-filled %d jobs in %.2f s\n", pr.produced, pr.wall.Seconds())
	}
	return pr.produced, nil
}

func firstSample(m map[string]string) string {
	for k, v := range m {
		return k + ": " + v
	}
	return ""
}
