package dev.tableflip.spring.boot.autoconfigure;

import dev.tableflip.Upgrader;
import dev.tableflip.spring.boot.TableflipUpgrader;
import dev.tableflip.spring.boot.Takeover;
import dev.tableflip.spring.boot.TakeoverStep;
import dev.tableflip.spring.boot.actuate.HealthGate;
import dev.tableflip.spring.boot.actuate.TableflipEndpoint;
import dev.tableflip.spring.boot.actuate.TableflipHealthIndicator;
import dev.tableflip.spring.boot.actuate.TableflipMetrics;
import dev.tableflip.spring.boot.actuate.autoconfigure.TableflipEndpointAutoConfiguration;
import dev.tableflip.spring.boot.actuate.autoconfigure.TableflipHealthAutoConfiguration;
import dev.tableflip.spring.boot.actuate.autoconfigure.TableflipMetricsAutoConfiguration;
import dev.tableflip.spring.boot.reactor.netty.ConnectionCloseWebFilter;
import dev.tableflip.spring.boot.reactor.netty.NettyListenerAdoption;
import dev.tableflip.spring.boot.reactor.netty.autoconfigure.TableflipReactorNettyAutoConfiguration;
import dev.tableflip.spring.boot.tomcat.TomcatListenerAdoption;
import dev.tableflip.spring.boot.tomcat.autoconfigure.TableflipTomcatAutoConfiguration;
import io.micrometer.core.instrument.MeterRegistry;
import org.junit.jupiter.api.Test;

import org.springframework.boot.actuate.autoconfigure.endpoint.EndpointAutoConfiguration;
import org.springframework.boot.actuate.autoconfigure.endpoint.web.WebEndpointAutoConfiguration;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.autoconfigure.availability.ApplicationAvailabilityAutoConfiguration;
import org.springframework.boot.context.properties.source.InvalidConfigurationPropertyValueException;
import org.springframework.boot.health.autoconfigure.contributor.HealthContributorAutoConfiguration;
import org.springframework.boot.test.context.FilteredClassLoader;
import dev.tableflip.spring.boot.web.InFlightRequestsFilter;
import dev.tableflip.spring.boot.web.InFlightRequestsReport;
import dev.tableflip.spring.boot.web.InFlightRequestsWebFilter;
import dev.tableflip.spring.boot.web.autoconfigure.TableflipWebAutoConfiguration;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.boot.test.context.runner.ReactiveWebApplicationContextRunner;
import org.springframework.boot.test.context.runner.WebApplicationContextRunner;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

import static org.assertj.core.api.Assertions.assertThat;

/** Every condition of the auto-configurations, both ways. */
class TableflipAutoConfigurationTests {

	private static final AutoConfigurations TABLEFLIP = AutoConfigurations.of(TableflipAutoConfiguration.class,
			TableflipTomcatAutoConfiguration.class, TableflipReactorNettyAutoConfiguration.class,
			TableflipEndpointAutoConfiguration.class, TableflipHealthAutoConfiguration.class,
			TableflipMetricsAutoConfiguration.class, TableflipWebAutoConfiguration.class);

	private final ApplicationContextRunner runner = new ApplicationContextRunner().withConfiguration(TABLEFLIP)
		.withConfiguration(AutoConfigurations.of(ApplicationAvailabilityAutoConfiguration.class));

	@Test
	void upgraderAndLifecycleByDefault() {
		this.runner.run((context) -> assertThat(context).hasSingleBean(TableflipUpgrader.class)
			.hasSingleBean(TableflipLifecycle.class));
	}

	@Test
	void nothingWhenDisabled() {
		this.runner.withPropertyValues("tableflip.enabled=false")
			.run((context) -> assertThat(context).doesNotHaveBean(TableflipUpgrader.class)
				.doesNotHaveBean(TableflipLifecycle.class)
				.doesNotHaveBean(TableflipMetrics.class));
	}

	@Test
	void userDefinedUpgraderWins() {
		this.runner.withUserConfiguration(StubUpgraderConfiguration.class)
			.run((context) -> assertThat(context.getBean(TableflipUpgrader.class).upgrader().generation())
				.isEqualTo(1)
				.satisfies((generation) -> assertThat(context).getBean("stubUpgrader").isNotNull()));
	}

	@Test
	void severalContextsInOneJvmShareTheUpgrader() {
		this.runner.run((first) -> this.runner.run((second) -> assertThat(
				second.getBean(TableflipUpgrader.class).upgrader())
			.isSameAs(first.getBean(TableflipUpgrader.class).upgrader())));
	}

	@Test
	void takeoverHasTheOverlapByDefaultAndTheWarmupWhenRequestsAreConfigured() {
		this.runner.run((context) -> assertThat(context.getBean(Takeover.class).steps()).extracting(TakeoverStep::name)
			.containsExactly("overlap"));
		this.runner
			.withPropertyValues("tableflip.takeover.overlap=0s", "tableflip.warmup.requests[0].path=/orders",
					"tableflip.warmup.count=10")
			.run((context) -> assertThat(context.getBean(Takeover.class).steps()).extracting(TakeoverStep::name)
				.containsExactly("warm-up"));
	}

	@Test
	void takeoverStepBeansJoinTheBuiltInOnes() {
		this.runner.withUserConfiguration(CustomStepConfiguration.class)
			.run((context) -> assertThat(context.getBean(Takeover.class).steps()).extracting(TakeoverStep::name)
				.containsExactly("custom", "overlap"));
	}

	@Test
	void startNiceReachesTheCoreOnlyWhenSet() {
		TableflipProperties properties = new TableflipProperties();
		assertThat(TableflipAutoConfiguration.options(properties).startNice()).as("unset: no change").isEqualTo(-1);
		properties.getTakeover().setStartNice(10);
		assertThat(TableflipAutoConfiguration.options(properties).startNice()).isEqualTo(10);
	}

	@Test
	void invalidTakeoverPropertiesFailStartUpNamingTheProperty() {
		assertInvalid("tableflip.takeover.overlap", "tableflip.takeover.overlap=-1s");
		assertInvalid("tableflip.takeover.start-nice", "tableflip.takeover.start-nice=20");
		assertInvalid("tableflip.takeover.start-nice", "tableflip.takeover.start-nice=-5");
		assertInvalid("tableflip.warmup.requests", "tableflip.warmup.count=10");
		assertInvalid("tableflip.warmup.count", "tableflip.warmup.requests[0].path=/");
		assertInvalid("tableflip.warmup.count", "tableflip.warmup.requests[0].path=/", "tableflip.warmup.count=5",
				"tableflip.warmup.duration=2s");
		assertInvalid("tableflip.warmup.duration", "tableflip.warmup.requests[0].path=/",
				"tableflip.warmup.duration=90s");
		assertInvalid("tableflip.warmup.concurrency", "tableflip.warmup.requests[0].path=/",
				"tableflip.warmup.count=5", "tableflip.warmup.concurrency=0");
		assertInvalid("tableflip.warmup.max-duration", "tableflip.warmup.requests[0].path=/", "tableflip.warmup.count=5",
				"tableflip.warmup.until-jit-idle=true", "tableflip.warmup.max-duration=60s");
		assertInvalid("tableflip.warmup.max-duration", "tableflip.warmup.requests[0].path=/",
				"tableflip.warmup.duration=20s", "tableflip.warmup.until-jit-idle=true",
				"tableflip.warmup.max-duration=20s");
		assertInvalid("tableflip.warmup.requests[0].path", "tableflip.warmup.requests[0].path=orders",
				"tableflip.warmup.count=5");
		assertInvalid("tableflip.warmup.requests[0].method", "tableflip.warmup.requests[0].path=/",
				"tableflip.warmup.requests[0].method=GET /", "tableflip.warmup.count=5");
	}

	@Test
	void healthGateIsAStepBeforeReadyWhenEnabled() {
		this.runner.withPropertyValues("tableflip.health-gate.enabled=true", "tableflip.takeover.overlap=0s")
			.run((context) -> assertThat(context.getBean(Takeover.class).steps()).extracting(TakeoverStep::name)
				.containsExactly("health gate"));
		this.runner.run((context) -> assertThat(context).doesNotHaveBean(HealthGate.class));
		assertInvalid("tableflip.health-gate.timeout", "tableflip.health-gate.enabled=true",
				"tableflip.health-gate.timeout=2m");
		assertInvalid("tableflip.health-gate.probe-path", "tableflip.health-gate.enabled=true",
				"tableflip.health-gate.probe-path=health");
	}

	private void assertInvalid(String property, String... values) {
		this.runner.withPropertyValues(values)
			.run((context) -> assertThat(context).hasFailed()
				.getFailure()
				.rootCause()
				.isInstanceOf(InvalidConfigurationPropertyValueException.class)
				.hasMessageContaining(property));
	}

	@Test
	void invalidPropertiesFailStartUpNamingTheProperty() {
		this.runner.withPropertyValues("tableflip.upgrade-timeout=0s")
			.run((context) -> assertThat(context).hasFailed()
				.getFailure()
				.rootCause()
				.isInstanceOf(InvalidConfigurationPropertyValueException.class)
				.hasMessageContaining("tableflip.upgrade-timeout"));
		this.runner.withPropertyValues("tableflip.upgrade-signal=NOSUCH")
			.run((context) -> assertThat(context).hasFailed()
				.getFailure()
				.rootCause()
				.hasMessageContaining("tableflip.upgrade-signal")
				.hasMessageContaining("NOSUCH"));
		this.runner.withPropertyValues("tableflip.drain-grace=2m")
			.run((context) -> assertThat(context).hasFailed()
				.getFailure()
				.rootCause()
				.hasMessageContaining("tableflip.drain-grace"));
		this.runner.withPropertyValues("tableflip.websocket-close-window=-1s")
			.run((context) -> assertThat(context).hasFailed()
				.getFailure()
				.rootCause()
				.hasMessageContaining("tableflip.websocket-close-window")
				.hasMessageContaining("must be zero"));
		this.runner.withPropertyValues("tableflip.exit-timeout=soon")
			.run((context) -> assertThat(context).hasFailed()
				.getFailure()
				.hasStackTraceContaining("tableflip.exit-timeout"));
	}

	@Test
	void tomcatAdoptionInServletApplicationsOnly() {
		new WebApplicationContextRunner().withConfiguration(TABLEFLIP)
			.run((context) -> assertThat(context).hasSingleBean(TomcatListenerAdoption.class)
				.doesNotHaveBean(NettyListenerAdoption.class));
		this.runner.run((context) -> assertThat(context).doesNotHaveBean(TomcatListenerAdoption.class));
	}

	@Test
	void nettyAdoptionInReactiveApplications() {
		new ReactiveWebApplicationContextRunner().withConfiguration(TABLEFLIP)
			.run((context) -> assertThat(context).hasSingleBean(NettyListenerAdoption.class)
				.hasSingleBean(ConnectionCloseWebFilter.class));
		new ReactiveWebApplicationContextRunner().withConfiguration(TABLEFLIP)
			.withClassLoader(new FilteredClassLoader("reactor.netty"))
			.run((context) -> assertThat(context).doesNotHaveBean(NettyListenerAdoption.class));
	}

	@Test
	void requestsInFlightAreKeptInWebApplicationsOnly() {
		new WebApplicationContextRunner().withConfiguration(TABLEFLIP)
			.run((context) -> assertThat(context).hasSingleBean(InFlightRequestsFilter.class)
				.hasSingleBean(InFlightRequestsReport.class)
				.doesNotHaveBean(InFlightRequestsWebFilter.class));
		new ReactiveWebApplicationContextRunner().withConfiguration(TABLEFLIP)
			.run((context) -> assertThat(context).hasSingleBean(InFlightRequestsWebFilter.class)
				.hasSingleBean(InFlightRequestsReport.class)
				.doesNotHaveBean(InFlightRequestsFilter.class));
		this.runner.run((context) -> assertThat(context).doesNotHaveBean(InFlightRequestsReport.class)
			.doesNotHaveBean(InFlightRequestsFilter.class)
			.doesNotHaveBean(InFlightRequestsWebFilter.class));
		new WebApplicationContextRunner().withConfiguration(TABLEFLIP)
			.withPropertyValues("tableflip.enabled=false")
			.run((context) -> assertThat(context).doesNotHaveBean(InFlightRequestsFilter.class));
	}

	@Test
	void endpointOnlyWhenExposed() {
		ApplicationContextRunner actuator = this.runner.withConfiguration(
				AutoConfigurations.of(EndpointAutoConfiguration.class, WebEndpointAutoConfiguration.class));
		actuator.run((context) -> assertThat(context).doesNotHaveBean(TableflipEndpoint.class));
		actuator.withPropertyValues("management.endpoints.web.exposure.include=tableflip")
			.run((context) -> assertThat(context).hasSingleBean(TableflipEndpoint.class));
	}

	@Test
	void noActuatorNoEndpointNorHealth() {
		this.runner.withClassLoader(new FilteredClassLoader("org.springframework.boot.actuate",
				"org.springframework.boot.health"))
			.run((context) -> assertThat(context).hasSingleBean(TableflipUpgrader.class)
				.doesNotHaveBean(TableflipEndpoint.class)
				.doesNotHaveBean(TableflipHealthIndicator.class));
	}

	@Test
	void healthIndicatorUnlessDisabled() {
		ApplicationContextRunner health = this.runner
			.withConfiguration(AutoConfigurations.of(HealthContributorAutoConfiguration.class));
		health.run((context) -> assertThat(context).hasSingleBean(TableflipHealthIndicator.class));
		health.withPropertyValues("management.health.tableflip.enabled=false")
			.run((context) -> assertThat(context).doesNotHaveBean(TableflipHealthIndicator.class));
	}

	@Test
	void metricsOnlyWithMicrometer() {
		this.runner.run((context) -> assertThat(context).hasSingleBean(TableflipMetrics.class));
		this.runner.withClassLoader(new FilteredClassLoader(MeterRegistry.class))
			.run((context) -> assertThat(context).doesNotHaveBean(TableflipMetrics.class));
	}

	@Configuration(proxyBeanMethods = false)
	static class StubUpgraderConfiguration {

		@Bean
		TableflipUpgrader stubUpgrader() {
			return new TableflipUpgrader(Upgrader.stub());
		}

	}

	@Configuration(proxyBeanMethods = false)
	static class CustomStepConfiguration {

		@Bean
		TakeoverStep customStep() {
			return new TakeoverStep() {

				@Override
				public Phase phase() {
					return Phase.BEFORE_READY;
				}

				@Override
				public String name() {
					return "custom";
				}

				@Override
				public void run() {
				}

			};
		}

	}

}
