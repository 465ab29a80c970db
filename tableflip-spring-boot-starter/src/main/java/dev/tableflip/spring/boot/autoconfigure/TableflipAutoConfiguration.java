package dev.tableflip.spring.boot.autoconfigure;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

import dev.tableflip.UpgraderOptions;
import dev.tableflip.spring.boot.DrainObserver;
import dev.tableflip.spring.boot.Overlap;
import dev.tableflip.spring.boot.TableflipUpgrader;
import dev.tableflip.spring.boot.Takeover;
import dev.tableflip.spring.boot.TakeoverStep;
import dev.tableflip.spring.boot.UpgradeSignal;
import dev.tableflip.spring.boot.warmup.Warmup;
import dev.tableflip.spring.boot.PrivateListener;
import dev.tableflip.spring.boot.warmup.WarmupRequest;

import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBooleanProperty;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.context.properties.source.InvalidConfigurationPropertyValueException;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;

/**
 * Zero-downtime upgrades: this JVM's {@link TableflipUpgrader}, told when the application is
 * ready (after the takeover's before-ready steps, such as the warm-up), upgraded on a signal,
 * and drained after a successful upgrade (and the overlap).
 */
@AutoConfiguration
@ConditionalOnBooleanProperty(name = "tableflip.enabled", matchIfMissing = true)
@EnableConfigurationProperties(TableflipProperties.class)
public final class TableflipAutoConfiguration {

	@Bean(destroyMethod = "stop")
	@ConditionalOnMissingBean
	TableflipUpgrader tableflipUpgrader(TableflipProperties properties) throws IOException {
		return TableflipUpgrader.shared(options(properties));
	}

	@Bean
	@ConditionalOnMissingBean
	Takeover tableflipTakeover(TableflipUpgrader upgrader, TableflipProperties properties,
			ObjectProvider<TakeoverStep> steps, ObjectProvider<PrivateListener> warmupListeners,
			ConfigurableApplicationContext context) {
		List<TakeoverStep> all = new ArrayList<>(steps.orderedStream().toList());
		Warmup warmup = warmup(properties,
				() -> PrivateListener.forRunningServer(context, warmupListeners.orderedStream()));
		if (warmup != null) {
			all.add(warmup);
		}
		Duration overlap = properties.getTakeover().getOverlap();
		if (overlap == null || overlap.isNegative()) {
			throw new InvalidConfigurationPropertyValueException("tableflip.takeover.overlap", overlap,
					"must be zero (stop accepting as soon as the new process is ready) or positive");
		}
		if (!overlap.isZero()) {
			all.add(new Overlap(upgrader, overlap));
		}
		return new Takeover(upgrader.upgrader(), all);
	}

	@Bean
	@ConditionalOnMissingBean
	TableflipLifecycle tableflipLifecycle(TableflipUpgrader upgrader, Takeover takeover, TableflipProperties properties,
			ConfigurableApplicationContext context, ObjectProvider<DrainObserver> observers) {
		return new TableflipLifecycle(upgrader, takeover, properties, context, observers);
	}

	static Warmup warmup(TableflipProperties properties, Supplier<PrivateListener> listener) {
		TableflipProperties.Warmup warmup = properties.getWarmup();
		if (warmup.getRequests().isEmpty()) {
			if (warmup.getCount() != 0 || warmup.getDuration() != null) {
				throw new InvalidConfigurationPropertyValueException("tableflip.warmup.requests", "[]",
						"a warm-up count or duration is set but no request: add tableflip.warmup.requests[0].path");
			}
			return null;
		}
		boolean byCount = warmup.getCount() > 0;
		boolean byDuration = warmup.getDuration() != null;
		if (warmup.getCount() < 0 || byCount == byDuration) {
			throw new InvalidConfigurationPropertyValueException("tableflip.warmup.count", warmup.getCount(),
					"set either a positive tableflip.warmup.count or a tableflip.warmup.duration, not both");
		}
		if (byDuration && (warmup.getDuration().isNegative() || warmup.getDuration().isZero()
				|| warmup.getDuration().compareTo(properties.getUpgradeTimeout()) >= 0)) {
			throw new InvalidConfigurationPropertyValueException("tableflip.warmup.duration", warmup.getDuration(),
					"must be positive and well below tableflip.upgrade-timeout (" + properties.getUpgradeTimeout()
							+ "), or every upgrade times out");
		}
		if (warmup.getConcurrency() < 1) {
			throw new InvalidConfigurationPropertyValueException("tableflip.warmup.concurrency",
					warmup.getConcurrency(), "must be at least 1");
		}
		List<WarmupRequest> requests = new ArrayList<>();
		for (int i = 0; i < warmup.getRequests().size(); i++) {
			TableflipProperties.Warmup.Request request = warmup.getRequests().get(i);
			String path = request.getPath();
			if (path == null || !path.startsWith("/")) {
				throw new InvalidConfigurationPropertyValueException("tableflip.warmup.requests[" + i + "].path", path,
						"must be a path starting with '/', such as /orders?limit=10");
			}
			String method = request.getMethod();
			if (method == null || !method.matches("[A-Za-z]+")) {
				throw new InvalidConfigurationPropertyValueException("tableflip.warmup.requests[" + i + "].method",
						method, "must be an HTTP method, such as GET or POST");
			}
			requests.add(new WarmupRequest(method.toUpperCase(), path, request.getBody(), request.getContentType()));
		}
		return new Warmup(listener, requests, warmup.getCount(), warmup.getDuration(), warmup.getConcurrency(),
				warmup.isRequireSuccess());
	}

	static UpgraderOptions options(TableflipProperties properties) {
		requirePositive("tableflip.upgrade-timeout", properties.getUpgradeTimeout());
		requirePositive("tableflip.exit-timeout", properties.getExitTimeout());
		Duration grace = properties.getDrainGrace();
		if (grace == null || grace.isNegative() || grace.compareTo(properties.getExitTimeout()) >= 0) {
			throw new InvalidConfigurationPropertyValueException("tableflip.drain-grace", grace,
					"must be zero or positive and shorter than tableflip.exit-timeout ("
							+ properties.getExitTimeout() + ")");
		}
		Duration webSocketWindow = properties.getWebsocketCloseWindow();
		if (webSocketWindow == null || webSocketWindow.isNegative()) {
			throw new InvalidConfigurationPropertyValueException("tableflip.websocket-close-window", webSocketWindow,
					"must be zero (all sessions closed at once) or positive");
		}
		String signal = properties.getUpgradeSignal();
		if (signal == null || (!signal.equalsIgnoreCase("none") && !UpgradeSignal.exists(signal.toUpperCase()))) {
			throw new InvalidConfigurationPropertyValueException("tableflip.upgrade-signal", signal,
					"not a signal this JVM knows; use a name such as HUP or USR2 (without SIG), or 'none'");
		}
		UpgraderOptions options = UpgraderOptions.defaults()
			.withUpgradeTimeout(properties.getUpgradeTimeout())
			.withProbation(probation(properties.getTakeover()))
			.withPidFile(properties.getPidFile());
		if (!properties.getCommand().isEmpty()) {
			options = options.withCommand(properties.getCommand());
		}
		return options;
	}

	private static Duration probation(TableflipProperties.Takeover takeover) {
		Duration overlap = takeover.getOverlap();
		Duration probation = takeover.getProbation();
		if (probation == null) {
			return (overlap != null && !overlap.isNegative()) ? overlap : Duration.ZERO;
		}
		if (probation.isNegative() || (overlap != null && probation.compareTo(overlap) < 0)) {
			throw new InvalidConfigurationPropertyValueException("tableflip.takeover.probation", probation,
					"must not be shorter than tableflip.takeover.overlap (" + overlap
							+ "): the old process keeps its listeners at least while it accepts beside the new one");
		}
		return probation;
	}

	private static void requirePositive(String name, Duration value) {
		if (value == null || value.isNegative() || value.isZero()) {
			throw new InvalidConfigurationPropertyValueException(name, value, "must be a positive duration");
		}
	}

}
