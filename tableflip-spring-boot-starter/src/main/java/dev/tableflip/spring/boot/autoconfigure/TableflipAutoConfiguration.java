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
import dev.tableflip.spring.boot.warmup.Warmup;
import dev.tableflip.spring.boot.PrivateListener;
import dev.tableflip.spring.boot.warmup.WarmupRequest;

import org.jspecify.annotations.Nullable;

import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBooleanProperty;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
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

	/** The warm-up the properties describe (checked when they were bound), or {@code null} for none. */
	static @Nullable Warmup warmup(TableflipProperties properties, Supplier<PrivateListener> listener) {
		TableflipProperties.Warmup warmup = properties.getWarmup();
		if (warmup.getRequests().isEmpty()) {
			return null;
		}
		List<WarmupRequest> requests = new ArrayList<>();
		for (TableflipProperties.Warmup.Request request : warmup.getRequests()) {
			requests.add(new WarmupRequest(request.getMethod().toUpperCase(), request.getPath(), request.getBody(),
					request.getContentType()));
		}
		return new Warmup(listener, requests, warmup.getCount(), warmup.getDuration(), warmup.getConcurrency(),
				warmup.isRequireSuccess(), warmup.isUntilJitIdle() ? warmup.getMaxDuration() : null);
	}

	/** The core's options the properties describe (checked when they were bound). */
	static UpgraderOptions options(TableflipProperties properties) {
		UpgraderOptions options = UpgraderOptions.defaults()
			.withUpgradeTimeout(properties.getUpgradeTimeout())
			.withProbation(properties.getTakeover().probation())
			.withStartNice(properties.getTakeover().startNiceOrNone())
			.withPidFile(properties.getPidFile());
		if (!properties.getCommand().isEmpty()) {
			options = options.withCommand(properties.getCommand());
		}
		return options;
	}

}
