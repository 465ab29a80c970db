package dev.tableflip.spring.boot.actuate;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import dev.tableflip.Descriptor;
import dev.tableflip.Lineage;
import dev.tableflip.UpgradeException.Reason;
import dev.tableflip.spring.boot.TableflipUpgrader;
import dev.tableflip.spring.boot.UpgradeRecord;

import org.springframework.boot.actuate.endpoint.Access;
import org.springframework.boot.actuate.endpoint.annotation.Endpoint;
import org.springframework.boot.actuate.endpoint.annotation.ReadOperation;
import org.springframework.boot.actuate.endpoint.annotation.Selector;
import org.springframework.boot.actuate.endpoint.annotation.WriteOperation;
import org.springframework.boot.actuate.endpoint.web.WebEndpointResponse;

/**
 * {@code GET /actuator/tableflip} tells this process's generation, state, listeners, lineage
 * (when and why it was started, the upgrades of the whole line since the first process) and its
 * own last upgrades; {@code POST /actuator/tableflip/upgrade} upgrades it and answers once the new
 * process is ready (200), or the upgrade failed (503), or was refused (409, but 503 where this
 * process cannot upgrade at all: {@code UNSUPPORTED}). Read-only unless
 * {@code management.endpoint.tableflip.access=unrestricted}: an upgrade starts a process.
 */
@Endpoint(id = "tableflip", defaultAccess = Access.READ_ONLY)
public class TableflipEndpoint {

	private final TableflipUpgrader upgrader;

	public TableflipEndpoint(TableflipUpgrader upgrader) {
		this.upgrader = upgrader;
	}

	@ReadOperation
	public Map<String, Object> status() {
		Map<String, Object> status = new LinkedHashMap<>();
		status.put("pid", this.upgrader.pid());
		status.put("parentPid", this.upgrader.parentPid().isPresent() ? this.upgrader.parentPid().getAsLong() : null);
		status.put("generation", this.upgrader.generation());
		status.put("state", this.upgrader.state().name().toLowerCase());
		if (this.upgrader.step() != null) {
			status.put("step", this.upgrader.step());
		}
		status.put("listeners", Map.of("inherited", names(this.upgrader.fds().inherited()), "used",
				names(this.upgrader.fds().used())));
		status.put("lineage", describe(this.upgrader.lineage()));
		status.put("upgrades", this.upgrader.history().stream().map(TableflipEndpoint::describe).toList());
		return status;
	}

	private static Map<String, Object> describe(Lineage lineage) {
		Map<String, Object> described = new LinkedHashMap<>();
		described.put("started", lineage.started().toString());
		described.put("startedBy", lineage.cause());
		described.put("firstStarted", lineage.firstStarted().toString());
		Map<String, Object> upgrades = new LinkedHashMap<>();
		upgrades.put("attempted", lineage.attempted());
		upgrades.put("succeeded", lineage.succeeded());
		upgrades.put("failed", lineage.failed());
		upgrades.put("refused", lineage.refused());
		described.put("upgrades", upgrades);
		lineage.lastFailure().ifPresent((failure) -> {
			Map<String, Object> last = new LinkedHashMap<>();
			last.put("at", failure.at().toString());
			last.put("generation", failure.generation());
			last.put("reason", failure.reason().name());
			last.put("message", failure.message());
			described.put("lastFailure", last);
		});
		return described;
	}

	@WriteOperation
	public WebEndpointResponse<Map<String, Object>> upgrade(@Selector String action) {
		if (!"upgrade".equals(action)) {
			return new WebEndpointResponse<>(Map.of("error", "unknown action '" + action + "'",
					"actions", List.of("upgrade")), WebEndpointResponse.STATUS_NOT_FOUND);
		}
		UpgradeRecord record = this.upgrader.upgrade("endpoint");
		int status = switch (record.outcome()) {
			case SUCCEEDED -> WebEndpointResponse.STATUS_OK;
			case FAILED, ROLLED_BACK -> WebEndpointResponse.STATUS_SERVICE_UNAVAILABLE;
			case REFUSED -> (record.reason() == Reason.UNSUPPORTED) ? WebEndpointResponse.STATUS_SERVICE_UNAVAILABLE
					: 409;
		};
		return new WebEndpointResponse<>(describe(record), status);
	}

	private static List<String> names(List<Descriptor> descriptors) {
		return descriptors.stream().map(Descriptor::toString).toList();
	}

	static Map<String, Object> describe(UpgradeRecord record) {
		Map<String, Object> described = new LinkedHashMap<>();
		described.put("outcome", record.outcome().name().toLowerCase());
		if (record.reason() != null) {
			described.put("reason", record.reason().name());
		}
		described.put("message", record.message());
		described.put("trigger", record.trigger());
		if (record.childPid() != null) {
			described.put("childPid", record.childPid());
		}
		if (record.exitCode() != null) {
			described.put("exitCode", record.exitCode());
		}
		described.put("startedAt", record.startedAt().toString());
		described.put("durationMs", record.duration().toMillis());
		return described;
	}

}
