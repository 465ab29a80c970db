package dev.tableflip.spring.boot.actuate.autoconfigure;

import java.time.Duration;

import dev.tableflip.spring.boot.TableflipUpgrader;
import dev.tableflip.spring.boot.actuate.HealthGate;
import dev.tableflip.spring.boot.actuate.TableflipHealthIndicator;
import dev.tableflip.spring.boot.autoconfigure.TableflipAutoConfiguration;
import dev.tableflip.spring.boot.autoconfigure.TableflipProperties;
import dev.tableflip.spring.boot.PrivateListener;

import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBooleanProperty;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.availability.ApplicationAvailability;
import org.springframework.boot.context.properties.source.InvalidConfigurationPropertyValueException;
import org.springframework.boot.health.actuate.endpoint.HealthEndpoint;
import org.springframework.boot.health.autoconfigure.contributor.ConditionalOnEnabledHealthIndicator;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * The {@code tableflip} health indicator, unless {@code management.health.tableflip.enabled}
 * is false; and the health gate before ready, if {@code tableflip.health-gate.enabled}.
 */
@AutoConfiguration(after = TableflipAutoConfiguration.class)
@ConditionalOnClass({ HealthIndicator.class, ConditionalOnEnabledHealthIndicator.class })
@ConditionalOnBean(TableflipUpgrader.class)
public final class TableflipHealthAutoConfiguration {

	@Configuration(proxyBeanMethods = false)
	@ConditionalOnBooleanProperty("tableflip.health-gate.enabled")
	static class HealthGateConfiguration {

		@Bean
		HealthGate tableflipHealthGate(TableflipProperties properties, ApplicationAvailability availability,
				ObjectProvider<HealthEndpoint> health, ObjectProvider<PrivateListener> listeners,
				ConfigurableApplicationContext context) {
			TableflipProperties.HealthGate gate = properties.getHealthGate();
			Duration timeout = gate.getTimeout();
			if (timeout == null || timeout.isNegative() || timeout.isZero()
					|| timeout.compareTo(properties.getUpgradeTimeout()) >= 0) {
				throw new InvalidConfigurationPropertyValueException("tableflip.health-gate.timeout", timeout,
						"must be positive and below tableflip.upgrade-timeout (" + properties.getUpgradeTimeout() + ")");
			}
			String probePath = gate.getProbePath();
			if (probePath != null && !probePath.startsWith("/")) {
				throw new InvalidConfigurationPropertyValueException("tableflip.health-gate.probe-path", probePath,
						"must be a path starting with '/', such as /orders/health");
			}
			return new HealthGate(availability, health::getIfAvailable, gate.getGroups(), probePath,
					() -> PrivateListener.forRunningServer(context, listeners.orderedStream()), timeout);
		}

	}

	// Nested, so that its condition is read only once Spring Boot's health module is known to be there.
	@Configuration(proxyBeanMethods = false)
	@ConditionalOnEnabledHealthIndicator("tableflip")
	static class EnabledHealthIndicatorConfiguration {

		@Bean
		@ConditionalOnMissingBean(name = "tableflipHealthIndicator")
		TableflipHealthIndicator tableflipHealthIndicator(TableflipUpgrader upgrader) {
			return new TableflipHealthIndicator(upgrader);
		}

	}

}
