package dev.tableflip;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * How an {@link Upgrader} behaves. Immutable: each {@code with} method returns a copy.
 */
public final class UpgraderOptions {

	/** The default time a new process has to become ready. */
	public static final Duration DEFAULT_UPGRADE_TIMEOUT = Duration.ofMinutes(1);

	private static final UpgraderOptions DEFAULTS = new UpgraderOptions(DEFAULT_UPGRADE_TIMEOUT, Duration.ZERO,
			null, ListenConfig.defaults(), List.of(), Map.of(), -1);

	private final Duration upgradeTimeout;

	private final Duration probation;

	private final Path pidFile;

	private final ListenConfig listenConfig;

	private final List<String> command;

	private final Map<String, String> environment;

	/** The nice value new processes start at until they are ready; -1 for this process's own. */
	private final int startNice;

	private UpgraderOptions(Duration upgradeTimeout, Duration probation, Path pidFile, ListenConfig listenConfig,
			List<String> command, Map<String, String> environment, int startNice) {
		this.upgradeTimeout = upgradeTimeout;
		this.probation = probation;
		this.pidFile = pidFile;
		this.listenConfig = listenConfig;
		this.command = command;
		this.environment = environment;
		this.startNice = startNice;
	}

	/**
	 * The defaults: a one-minute upgrade timeout, no probation, no PID file, this JVM's own
	 * command line.
	 */
	public static UpgraderOptions defaults() {
		return DEFAULTS;
	}

	/** Returns a copy with the time a new process has to become ready before it is killed. */
	public UpgraderOptions withUpgradeTimeout(Duration upgradeTimeout) {
		Objects.requireNonNull(upgradeTimeout, "upgradeTimeout");
		if (upgradeTimeout.isNegative() || upgradeTimeout.isZero()) {
			throw new IllegalArgumentException("upgrade timeout must be positive, not " + upgradeTimeout);
		}
		return new UpgraderOptions(upgradeTimeout, this.probation, this.pidFile, this.listenConfig, this.command,
				this.environment, this.startNice);
	}

	/**
	 * Returns a copy with a probation: for this long after a new process is ready, this process
	 * keeps its listeners and {@link Upgrader#exit()} does not complete yet. If the new process
	 * exits, or reports that it will not serve, within it, this process takes the service back
	 * (it is ready again, rewrites the PID file, tells systemd) and the upgrade counts as
	 * failed ({@link UpgradeException.Reason#PROBATION_FAILED}). Zero, the default, hands over
	 * the moment the new process is ready, as Go's tableflip does.
	 */
	public UpgraderOptions withProbation(Duration probation) {
		Objects.requireNonNull(probation, "probation");
		if (probation.isNegative()) {
			throw new IllegalArgumentException("probation must not be negative, not " + probation);
		}
		return new UpgraderOptions(this.upgradeTimeout, probation, this.pidFile, this.listenConfig, this.command,
				this.environment, this.startNice);
	}

	/**
	 * Returns a copy that writes the pid of the ready process to a file; a relative path is
	 * resolved against the initial working directory. {@code null} writes none.
	 */
	public UpgraderOptions withPidFile(Path pidFile) {
		return new UpgraderOptions(this.upgradeTimeout, this.probation, pidFile, this.listenConfig, this.command,
				this.environment, this.startNice);
	}

	/** Returns a copy that creates new sockets with these settings. */
	public UpgraderOptions withListenConfig(ListenConfig listenConfig) {
		Objects.requireNonNull(listenConfig, "listenConfig");
		return new UpgraderOptions(this.upgradeTimeout, this.probation, this.pidFile, listenConfig, this.command,
				this.environment, this.startNice);
	}

	/**
	 * Returns a copy that starts new processes with this command line instead of this JVM's
	 * own. An empty list restores the default.
	 */
	public UpgraderOptions withCommand(List<String> command) {
		return new UpgraderOptions(this.upgradeTimeout, this.probation, this.pidFile, this.listenConfig, List.copyOf(command),
				this.environment, this.startNice);
	}

	/**
	 * Returns a copy whose new processes start at this nice value (0 to 19; the higher, the less
	 * CPU they get when the CPU is contended), and come back to this process's nice value when
	 * they are ready: their JVM start and warm-up then use the CPU this process leaves, not its
	 * share. Only when they can come back ({@code CAP_SYS_NICE}, which root has, or an
	 * {@code RLIMIT_NICE} that allows this process's nice value: systemd's {@code LimitNICE=});
	 * otherwise, and when this process runs at that nice value or above already, they start at
	 * this process's priority and the log says why. -1, the default, starts them at this
	 * process's priority.
	 */
	public UpgraderOptions withStartNice(int startNice) {
		if (startNice < -1 || startNice > 19) {
			throw new IllegalArgumentException("start nice value must be between 0 and 19 (or -1 for none), not "
					+ startNice);
		}
		return new UpgraderOptions(this.upgradeTimeout, this.probation, this.pidFile, this.listenConfig, this.command,
				this.environment, startNice);
	}

	/** The nice value new processes start at until they are ready, or -1 for this process's own. */
	public int startNice() {
		return this.startNice;
	}

	/** Returns a copy that adds a variable to the environment of new processes. */
	public UpgraderOptions withEnvironment(String name, String value) {
		Map<String, String> environment = new LinkedHashMap<>(this.environment);
		environment.put(Objects.requireNonNull(name, "name"), Objects.requireNonNull(value, "value"));
		return new UpgraderOptions(this.upgradeTimeout, this.probation, this.pidFile, this.listenConfig, this.command,
				Collections.unmodifiableMap(environment), this.startNice);
	}

	/** The time a new process has to become ready. */
	public Duration upgradeTimeout() {
		return this.upgradeTimeout;
	}

	/** How long after a new process is ready this process can still take the service back. */
	public Duration probation() {
		return this.probation;
	}

	/** The PID file, or {@code null}. */
	public Path pidFile() {
		return this.pidFile;
	}

	/** How new sockets are created. */
	public ListenConfig listenConfig() {
		return this.listenConfig;
	}

	/** The command line of new processes; empty for this JVM's own. */
	public List<String> command() {
		return this.command;
	}

	/** Variables added to the environment of new processes. */
	public Map<String, String> environment() {
		return this.environment;
	}

}
