package dev.tableflip.spring.boot.actuate;

import java.util.List;

import dev.tableflip.spring.boot.ProcessLife;
import dev.tableflip.spring.boot.TableflipUpgrader;
import dev.tableflip.spring.boot.UpgradeRecord;

import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthIndicator;

/**
 * Health of upgrades: OUT_OF_SERVICE while draining after an upgrade, since the new process
 * serves then; UP in every other state (starting, ready, upgrading, on probation, stopping
 * without an upgrade). A failed upgrade leaves the process serving, and shows in the details.
 */
public class TableflipHealthIndicator implements HealthIndicator {

	private final TableflipUpgrader upgrader;

	public TableflipHealthIndicator(TableflipUpgrader upgrader) {
		this.upgrader = upgrader;
	}

	@Override
	public Health health() {
		Health.Builder health = (this.upgrader.state() == ProcessLife.State.DRAINING) ? Health.outOfService()
				: Health.up();
		health.withDetail("generation", this.upgrader.generation())
			.withDetail("state", this.upgrader.state().name().toLowerCase());
		List<UpgradeRecord> history = this.upgrader.history();
		if (!history.isEmpty()) {
			health.withDetail("lastUpgrade", TableflipEndpoint.describe(history.get(history.size() - 1)));
		}
		return health.build();
	}

}
