// Declaring Prometheus series in one registry, one line each: name, help, label names (and the
// buckets of a histogram, the collect hook of a series read at scrape time). The shared packages
// and components that publish metrics declare them through this, not prom-client's options.
import { type CollectFunction, Counter, Gauge, Histogram, type Registry } from "prom-client";

export type MetricFactory = {
  counter<L extends string = string>(
    name: string,
    help: string,
    labelNames?: readonly L[],
    collect?: CollectFunction<Counter<L>>,
  ): Counter<L>;
  gauge<L extends string = string>(
    name: string,
    help: string,
    labelNames?: readonly L[],
    collect?: CollectFunction<Gauge<L>>,
  ): Gauge<L>;
  histogram<L extends string = string>(
    name: string,
    help: string,
    buckets: number[],
    labelNames?: readonly L[],
  ): Histogram<L>;
};

export function metricFactory(registry: Registry): MetricFactory {
  const registers = [registry];
  return {
    counter: (name, help, labelNames = [], collect) =>
      new Counter({ name, help, labelNames, registers, collect }),
    gauge: (name, help, labelNames = [], collect) =>
      new Gauge({ name, help, labelNames, registers, collect }),
    histogram: (name, help, buckets, labelNames = []) =>
      new Histogram({ name, help, buckets, labelNames, registers }),
  };
}
