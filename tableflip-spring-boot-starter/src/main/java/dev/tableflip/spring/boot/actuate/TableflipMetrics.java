package dev.tableflip.spring.boot.actuate;

import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import dev.tableflip.Descriptor;
import dev.tableflip.UpgradeException.Reason;
import dev.tableflip.spring.boot.ProcessLife;
import dev.tableflip.spring.boot.TableflipUpgrader;
import dev.tableflip.spring.boot.UpgradeRecord;
import dev.tableflip.spring.boot.UpgradeRecord.Outcome;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.TimeGauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.MeterBinder;
import org.jspecify.annotations.Nullable;

/**
 * Micrometer meters for upgrades: {@code tableflip.upgrades} (counter, tag {@code outcome}
 * and {@code reason}), {@code tableflip.upgrade.duration} (timer, tag {@code outcome}),
 * {@code tableflip.generation} and {@code tableflip.listeners} (gauges), {@code tableflip.state}
 * (a gauge per state, tag {@code state}, 1 for the current one: {@code probation} while the
 * old process still holds its listeners beside the new one). A process that fails an upgrade,
 * or rolls one back, records it in its own meters and serves on, so they are scraped. A
 * successful upgrade is recorded where it can be read, by the new process, once the old one
 * is gone: {@code tableflip.upgrades} with outcome {@code succeeded},
 * {@code tableflip.upgrade.duration} from the new JVM's start to its ready, and
 * {@code tableflip.handover.duration} from its ready to the old process's exit (the overlap,
 * the probation and the old process's drain). The lineage meters tell the whole line's story,
 * carried across upgrades: {@code tableflip.lineage.upgrades} (function counter, tag
 * {@code outcome}: the upgrades of this process and all its ancestors) and
 * {@code tableflip.lineage.start.time} (when the first process was started by hand).
 */
public class TableflipMetrics implements MeterBinder {

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
		this.upgrader.parentPid().ifPresent((parent) -> this.upgrader.life().whenReady().thenRun(() -> {
			Instant ready = Instant.now();
			Duration started = Duration.between(ProcessHandle.current().info().startInstant().orElse(ready), ready);
			ProcessHandle.of(parent)
				.map(ProcessHandle::onExit)
				.orElse(CompletableFuture.completedFuture(null))
				.thenRun(() -> handedOver(started, Duration.between(ready, Instant.now())));
		}));
	}

	/** The upgrade that started this process succeeded: the old process is gone. */
	private void handedOver(Duration startToReady, Duration readyToOldGone) {
		record(Outcome.SUCCEEDED, null, startToReady);
		Timer.builder("tableflip.handover.duration")
			.description("From the new process ready to the old process gone: the overlap, the probation and "
					+ "the old process's drain")
			.register(this.registry)
			.record(readyToOldGone);
	}

	/** An upgrade this process started: a success is recorded by the new process, which is scraped. */
	private void record(UpgradeRecord record) {
		if (record.outcome() != Outcome.SUCCEEDED) {
			record(record.outcome(), record.reason(), record.duration());
		}
	}

	private void record(Outcome outcome, @Nullable Reason reason, Duration duration) {
		MeterRegistry registry = this.registry;
		Counter.builder("tableflip.upgrades")
			.description("Upgrade attempts")
			.tag("outcome", outcome.name().toLowerCase())
			.tag("reason", (reason != null) ? reason.name().toLowerCase() : "none")
			.register(registry)
			.increment();
		Timer.builder("tableflip.upgrade.duration")
			.description("From the trigger to the new process ready, or the failure")
			.tag("outcome", outcome.name().toLowerCase())
			.register(registry)
			.record(duration);
	}

}
