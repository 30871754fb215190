package main

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"
	schedulerapp "k8s.io/kubernetes/cmd/kube-scheduler/app"
	scheduleroptions "k8s.io/kubernetes/cmd/kube-scheduler/app/options"
)

// prepareScheduler parses kube-scheduler flags (its default profile, as on
// any cluster); the returned function runs it until ctx is cancelled and
// sends the result of Run to done.
func prepareScheduler(kubeconfig string) (func(ctx context.Context, done chan<- error) error, error) {
	opts := scheduleroptions.NewOptions()
	fs := pflag.NewFlagSet("kube-scheduler", pflag.ContinueOnError)
	for _, f := range opts.Flags.FlagSets {
		fs.AddFlagSet(f)
	}
	args := []string{
		"--kubeconfig=" + kubeconfig,
		"--leader-elect=false", // one instance, as for the controller manager
		"--secure-port=0",      // no health/metrics endpoint: nothing scrapes it
	}
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("kube-scheduler flags: %w", err)
	}
	return func(ctx context.Context, done chan<- error) error {
		cc, sched, err := schedulerapp.Setup(ctx, opts)
		if err != nil {
			return fmt.Errorf("kube-scheduler: %w", err)
		}
		go func() { done <- schedulerapp.Run(ctx, cc, sched) }()
		return nil
	}, nil
}
