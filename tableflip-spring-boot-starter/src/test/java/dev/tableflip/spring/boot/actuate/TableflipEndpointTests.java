package dev.tableflip.spring.boot.actuate;

import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import dev.tableflip.Upgrader;
import dev.tableflip.spring.boot.TableflipUpgrader;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;

import org.springframework.boot.actuate.endpoint.web.WebEndpointResponse;
import org.springframework.boot.health.contributor.Status;

import static org.assertj.core.api.Assertions.assertThat;

/** The endpoint, health and metrics over an upgrader that cannot upgrade. */
class TableflipEndpointTests {

	private final TableflipUpgrader upgrader = new TableflipUpgrader(Upgrader.stub());

	private final TableflipEndpoint endpoint = new TableflipEndpoint(this.upgrader);

	@Test
	void unknownActionIsNotFoundAndNamesTheActions() {
		WebEndpointResponse<Map<String, Object>> response = this.endpoint.upgrade("upgrayedd");
		assertThat(response.getStatus()).isEqualTo(404);
		assertThat(response.getBody()).containsEntry("actions", List.of("upgrade"));
	}

	@Test
	void failedUpgradeIsServiceUnavailableWithTheReason() {
		WebEndpointResponse<Map<String, Object>> response = this.endpoint.upgrade("upgrade");
		assertThat(response.getStatus()).isEqualTo(503);
		assertThat(response.getBody()).containsEntry("reason", "UNSUPPORTED").containsEntry("outcome", "refused");
	}

	@Test
	@SuppressWarnings("unchecked")
	void statusTellsGenerationStateAndHistory() throws Exception {
		this.upgrader.ready();
		this.upgrader.upgrade("api");
		Map<String, Object> status = this.endpoint.status();
		assertThat(status).containsEntry("generation", 1)
			.containsEntry("state", "ready")
			.containsEntry("pid", ProcessHandle.current().pid());
		assertThat((List<?>) status.get("upgrades")).hasSize(1);
		assertThat((Map<String, Object>) status.get("lineage")).containsEntry("startedBy", "start")
			.containsEntry("upgrades", Map.of("attempted", 0L, "succeeded", 0L, "failed", 0L, "refused", 0L))
			.containsKeys("started", "firstStarted")
			.doesNotContainKey("lastFailure");
	}

	@Test
	void healthIsUpWhileServing() {
		assertThat(new TableflipHealthIndicator(this.upgrader).health().getStatus()).isEqualTo(Status.UP);
	}

	@Test
	void metricsCountUpgradesByOutcome() {
		SimpleMeterRegistry registry = new SimpleMeterRegistry();
		new TableflipMetrics(this.upgrader).bindTo(registry);
		this.upgrader.upgrade("api");
		assertThat(registry.get("tableflip.upgrades").tag("outcome", "refused").counter().count()).isEqualTo(1);
		assertThat(registry.get("tableflip.generation").gauge().value()).isEqualTo(1);
		assertThat(registry.get("tableflip.lineage.upgrades").tag("outcome", "succeeded").functionCounter().count())
			.isZero();
		assertThat(registry.get("tableflip.lineage.start.time").timeGauge().value(TimeUnit.MILLISECONDS))
			.isEqualTo(this.upgrader.lineage().firstStarted().toEpochMilli());
	}

}
