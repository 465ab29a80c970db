package dev.tableflip.spring.boot.autoconfigure;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import org.jspecify.annotations.Nullable;

import org.springframework.boot.context.properties.ConfigurationProperties;

/**
 * Configuration of zero-downtime upgrades.
 */
@ConfigurationProperties("tableflip")
public class TableflipProperties {

	/**
	 * Whether the application takes its listening sockets from tableflip and can be upgraded
	 * without downtime.
	 */
	private boolean enabled = true;

	/**
	 * How long a new process has to become ready before it is killed and the upgrade fails.
	 */
	private Duration upgradeTimeout = Duration.ofSeconds(60);

	/**
	 * File that holds the pid of the serving process, replaced atomically on each upgrade
	 * before the old process exits. Relative paths resolve against the working directory the
	 * first process started in.
	 */
	private @Nullable Path pidFile;

	/**
	 * How long the old process may take to drain after an upgrade before it exits anyway.
	 */
	private Duration exitTimeout = Duration.ofSeconds(60);

	/**
	 * How long the old process waits, once it stopped accepting, before it shuts down:
	 * keep-alive clients that send a request meanwhile are answered and told to reconnect.
	 */
	private Duration drainGrace = Duration.ofSeconds(1);

	/**
	 * Signal that triggers an upgrade, as named by 'kill -l' ("HUP", "USR2"), or "none".
	 */
	private String upgradeSignal = "HUP";

	/**
	 * Command line that starts the new process. Empty for this JVM's own command line, with
	 * its JVM options and arguments.
	 */
	private List<String> command = new ArrayList<>();

	public boolean isEnabled() {
		return this.enabled;
	}

	public void setEnabled(boolean enabled) {
		this.enabled = enabled;
	}

	public Duration getUpgradeTimeout() {
		return this.upgradeTimeout;
	}

	public void setUpgradeTimeout(Duration upgradeTimeout) {
		this.upgradeTimeout = upgradeTimeout;
	}

	public @Nullable Path getPidFile() {
		return this.pidFile;
	}

	public void setPidFile(@Nullable Path pidFile) {
		this.pidFile = pidFile;
	}

	public Duration getExitTimeout() {
		return this.exitTimeout;
	}

	public void setExitTimeout(Duration exitTimeout) {
		this.exitTimeout = exitTimeout;
	}

	public Duration getDrainGrace() {
		return this.drainGrace;
	}

	public void setDrainGrace(Duration drainGrace) {
		this.drainGrace = drainGrace;
	}

	public String getUpgradeSignal() {
		return this.upgradeSignal;
	}

	public void setUpgradeSignal(String upgradeSignal) {
		this.upgradeSignal = upgradeSignal;
	}

	public List<String> getCommand() {
		return this.command;
	}

	public void setCommand(List<String> command) {
		this.command = command;
	}

}
