package dev.tableflip.spring.boot.web.autoconfigure;

import dev.tableflip.spring.boot.TableflipUpgrader;
import dev.tableflip.spring.boot.autoconfigure.TableflipAutoConfiguration;
import dev.tableflip.spring.boot.web.InFlightRequestsFilter;
import dev.tableflip.spring.boot.web.InFlightRequestsReport;
import dev.tableflip.spring.boot.web.InFlightRequestsWebFilter;

import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnWebApplication;
import org.springframework.boot.autoconfigure.condition.ConditionalOnWebApplication.Type;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * The requests a web application runs, kept in its {@link TableflipUpgrader}'s
 * {@link dev.tableflip.spring.boot.InFlightRequests}, so that those still running when the
 * server stops, or when the process halts at {@code tableflip.exit-timeout}, are named in the
 * log.
 */
@AutoConfiguration(after = TableflipAutoConfiguration.class)
@ConditionalOnBean(TableflipUpgrader.class)
@ConditionalOnClass(name = "org.springframework.boot.web.server.context.WebServerGracefulShutdownLifecycle")
public final class TableflipWebAutoConfiguration {

	@Bean
	@ConditionalOnMissingBean
	@ConditionalOnWebApplication
	InFlightRequestsReport tableflipInFlightRequestsReport(TableflipUpgrader upgrader) {
		return new InFlightRequestsReport(upgrader.requests());
	}

	@Configuration(proxyBeanMethods = false)
	@ConditionalOnWebApplication(type = Type.SERVLET)
	@ConditionalOnClass(name = { "jakarta.servlet.Filter", "org.springframework.web.filter.OncePerRequestFilter" })
	static class Servlet {

		@Bean
		@ConditionalOnMissingBean
		InFlightRequestsFilter tableflipInFlightRequestsFilter(TableflipUpgrader upgrader) {
			return new InFlightRequestsFilter(upgrader.requests());
		}

	}

	@Configuration(proxyBeanMethods = false)
	@ConditionalOnWebApplication(type = Type.REACTIVE)
	@ConditionalOnClass(name = "org.springframework.web.server.WebFilter")
	static class Reactive {

		@Bean
		@ConditionalOnMissingBean
		InFlightRequestsWebFilter tableflipInFlightRequestsWebFilter(TableflipUpgrader upgrader) {
			return new InFlightRequestsWebFilter(upgrader.requests());
		}

	}

}
