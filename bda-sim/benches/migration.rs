//! What one simulated migration costs: a 2 GiB VM compiling a kernel, under BDA, on the
//! default 100 Mbit/s link (budget: 0.5 s per migration).

use bda_sim::run::simulate;
use bda_sim::scenario::{PolicyKind, Scenario};
use bda_sim::workload::WorkloadKind;
use criterion::{Criterion, criterion_group, criterion_main};

fn migration(c: &mut Criterion) {
    let scenario = Scenario::new(2 << 30, WorkloadKind::KernelCompile);
    let mut group = c.benchmark_group("simulate");
    group.sample_size(10);
    group.bench_function("2GiB kernel-compile BDA", |b| {
        b.iter(|| simulate(&scenario, PolicyKind::Bda, 1).expect("the scenario is valid"))
    });
    group.finish();
}

criterion_group!(benches, migration);
criterion_main!(benches);
