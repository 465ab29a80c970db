package dev.tableflip.spring.boot.actuate.autoconfigure;

import dev.tableflip.spring.boot.TableflipUpgrader;
import dev.tableflip.spring.boot.actuate.TableflipEndpoint;
import dev.tableflip.spring.boot.actuate.TableflipHealthIndicator;
import dev.tableflip.spring.boot.actuate.TableflipMetrics;
import dev.tableflip.spring.boot.autoconfigure.TableflipAutoConfiguration;
import io.micrometer.core.instrument.MeterRegistry;

import org.springframework.boot.actuate.autoconfigure.endpoint.condition.ConditionalOnAvailableEndpoint;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.health.autoconfigure.contributor.ConditionalOnEnabledHealthIndicator;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * The {@code tableflip} actuator endpoint, health indicator and metrics, each present only
 * when the application has what it needs.
 */
@AutoConfiguration(after = TableflipAutoConfiguration.class)
@ConditionalOnBean(TableflipUpgrader.class)
public final class TableflipActuatorAutoConfiguration {

	@Configuration(proxyBeanMethods = false)
	@ConditionalOnClass(ConditionalOnAvailableEndpoint.class)
	@ConditionalOnAvailableEndpoint(TableflipEndpoint.class)
	static class EndpointConfiguration {

		@Bean
		@ConditionalOnMissingBean
		TableflipEndpoint tableflipEndpoint(TableflipUpgrader upgrader) {
			return new TableflipEndpoint(upgrader);
		}

	}

	@Configuration(proxyBeanMethods = false)
	@ConditionalOnClass({ HealthIndicator.class, ConditionalOnEnabledHealthIndicator.class })
	@ConditionalOnEnabledHealthIndicator("tableflip")
	static class HealthConfiguration {

		@Bean
		@ConditionalOnMissingBean(name = "tableflipHealthIndicator")
		TableflipHealthIndicator tableflipHealthIndicator(TableflipUpgrader upgrader) {
			return new TableflipHealthIndicator(upgrader);
		}

	}

	@Configuration(proxyBeanMethods = false)
	@ConditionalOnClass(MeterRegistry.class)
	static class MetricsConfiguration {

		@Bean
		@ConditionalOnMissingBean
		TableflipMetrics tableflipMetrics(TableflipUpgrader upgrader) {
			return new TableflipMetrics(upgrader);
		}

	}

}
