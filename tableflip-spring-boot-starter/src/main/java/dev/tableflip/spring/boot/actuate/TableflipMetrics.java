package dev.tableflip.spring.boot.actuate;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

import dev.tableflip.Descriptor;
import dev.tableflip.spring.boot.DrainObserver;
import dev.tableflip.spring.boot.ProcessLife;
import dev.tableflip.spring.boot.TableflipUpgrader;
import dev.tableflip.spring.boot.UpgradeRecord;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.TimeGauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.MeterBinder;

/**
 * Micrometer meters for upgrades: {@code tableflip.upgrades} (counter, tag {@code outcome}
 * and {@code reason}), {@code tableflip.upgrade.duration} (timer, tag {@code outcome}),
 * {@code tableflip.generation} and {@code tableflip.listeners} (gauges), {@code tableflip.state}
 * (a gauge per state, tag {@code state}, 1 for the current one: {@code probation} while the
 * old process still holds its listeners beside the new one), and
 * {@code tableflip.drain.duration} (timer, recorded by the old process as it leaves). The
 * lineage meters tell the whole line's story, carried across upgrades:
 * {@code tableflip.lineage.upgrades} (function counter, tag {@code outcome}: the upgrades of this
 * process and all its ancestors) and {@code tableflip.lineage.start.time} (when the first process
 * was started by hand).
 */
public class TableflipMetrics implements MeterBinder, DrainObserver {

	private final TableflipUpgrader upgrader;

	private volatile MeterRegistry registry;

	public TableflipMetrics(TableflipUpgrader upgrader) {
		this.upgrader = upgrader;
	}

	@Override
	public void bindTo(MeterRegistry registry) {
		this.registry = registry;
		Gauge.builder("tableflip.generation", this.upgrader, TableflipUpgrader::generation)
			.description("Upgrades since the service was started by hand, plus one")
			.register(registry);
		Gauge.builder("tableflip.listeners", this.upgrader, (upgrader) -> upgrader.fds()
			.used()
			.stream()
			.filter((descriptor) -> descriptor.kind() == Descriptor.Kind.LISTENER)
			.count()).description("Listening sockets an upgrade hands over").register(registry);
		for (ProcessLife.State state : ProcessLife.State.values()) {
			Gauge.builder("tableflip.state", this.upgrader, (upgrader) -> (upgrader.state() == state) ? 1 : 0)
				.description("1 for the state this process is in, 0 for the others")
				.tag("state", state.name().toLowerCase())
				.register(registry);
		}
		for (String outcome : new String[] { "succeeded", "failed", "refused" }) {
			FunctionCounter.builder("tableflip.lineage.upgrades", this.upgrader, (upgrader) -> switch (outcome) {
				case "succeeded" -> upgrader.lineage().succeeded();
				case "failed" -> upgrader.lineage().failed();
				default -> upgrader.lineage().refused();
			})
				.description("Upgrade attempts of this process and all its ancestors since the first was started")
				.tag("outcome", outcome)
				.register(registry);
		}
		TimeGauge.builder("tableflip.lineage.start.time", this.upgrader, TimeUnit.MILLISECONDS,
				(upgrader) -> upgrader.lineage().firstStarted().toEpochMilli())
			.description("When the first process of this line was started by hand, since the epoch")
			.register(registry);
		this.upgrader.onUpgrade(this::record);
	}

	private void record(UpgradeRecord record) {
		MeterRegistry registry = this.registry;
		String outcome = record.outcome().name().toLowerCase();
		String reason = (record.reason() != null) ? record.reason().name().toLowerCase() : "none";
		Counter.builder("tableflip.upgrades")
			.description("Upgrade attempts")
			.tag("outcome", outcome)
			.tag("reason", reason)
			.register(registry)
			.increment();
		Timer.builder("tableflip.upgrade.duration")
			.description("From the trigger to the new process ready, or the failure")
			.tag("outcome", outcome)
			.register(registry)
			.record(record.duration());
	}

	@Override
	public void drained(Duration took) {
		MeterRegistry registry = this.registry;
		if (registry != null) {
			Timer.builder("tableflip.drain.duration")
				.description("From the old process's handover to its context closed")
				.register(registry)
				.record(took);
		}
	}

}
