package dev.tableflip.spring.boot.autoconfigure;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import org.jspecify.annotations.Nullable;

import dev.tableflip.spring.boot.UpgradeSignal;

import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.source.InvalidConfigurationPropertyValueException;
import org.springframework.beans.factory.InitializingBean;

/**
 * Configuration of zero-downtime upgrades. The values are checked as soon as Spring Boot has
 * bound them, so that every way of creating the upgrader, a bean of the application's own
 * included, gets the same checks; a bad value stops the start with Boot's "invalid
 * configuration property" failure analysis, which names the property, its value, where it was
 * set and the rule.
 */
@ConfigurationProperties("tableflip")
public class TableflipProperties implements InitializingBean {

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
	 * Over how long the old process closes its WebSocket sessions when it drains, one after
	 * another, each with 1001 (going away), so that clients reconnect to the new process in a
	 * trickle; never more than a quarter of the time left before tableflip.exit-timeout.
	 */
	private Duration websocketCloseWindow = Duration.ofSeconds(2);

	/**
	 * Signal that triggers an upgrade, as named by 'kill -l' ("HUP", "USR2"), or "none".
	 */
	private String upgradeSignal = "HUP";

	/**
	 * Command line that starts the new process. Empty for this JVM's own command line, with
	 * its JVM options and arguments.
	 */
	private List<String> command = new ArrayList<>();

	private final Takeover takeover = new Takeover();

	private final Warmup warmup = new Warmup();

	private final HealthGate healthGate = new HealthGate();

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

	public Duration getWebsocketCloseWindow() {
		return this.websocketCloseWindow;
	}

	public void setWebsocketCloseWindow(Duration websocketCloseWindow) {
		this.websocketCloseWindow = websocketCloseWindow;
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

	public Takeover getTakeover() {
		return this.takeover;
	}

	public Warmup getWarmup() {
		return this.warmup;
	}

	public HealthGate getHealthGate() {
		return this.healthGate;
	}

	/** Checks the values, once bound; throws Boot's invalid-property exception for the first bad one. */
	@Override
	public void afterPropertiesSet() {
		TableflipProperties properties = this;
		requirePositive("tableflip.upgrade-timeout", properties.upgradeTimeout);
		requirePositive("tableflip.exit-timeout", properties.exitTimeout);
		Duration grace = properties.drainGrace;
		if (grace == null || grace.isNegative() || grace.compareTo(properties.exitTimeout) >= 0) {
			throw new InvalidConfigurationPropertyValueException("tableflip.drain-grace", grace,
					"must be zero or positive and shorter than tableflip.exit-timeout (" + properties.exitTimeout
							+ ")");
		}
		Duration webSocketWindow = properties.websocketCloseWindow;
		if (webSocketWindow == null || webSocketWindow.isNegative()) {
			throw new InvalidConfigurationPropertyValueException("tableflip.websocket-close-window", webSocketWindow,
					"must be zero (all sessions closed at once) or positive");
		}
		String signal = properties.upgradeSignal;
		if (signal == null || (!signal.equalsIgnoreCase("none") && !UpgradeSignal.exists(signal.toUpperCase()))) {
			throw new InvalidConfigurationPropertyValueException("tableflip.upgrade-signal", signal,
					"not a signal this JVM knows; use a name such as HUP or USR2 (without SIG), or 'none'");
		}
		properties.takeover.check();
		properties.warmup.check(properties.upgradeTimeout);
	}

	private static void requirePositive(String name, @Nullable Duration value) {
		if (value == null || value.isNegative() || value.isZero()) {
			throw new InvalidConfigurationPropertyValueException(name, value, "must be a positive duration");
		}
	}

	/** What a process must pass, after its warm-up, before it says it is ready. */
	public static class HealthGate {

		/** Whether a process says it is ready only once it is healthy. */
		private boolean enabled;

		/** Health groups (or contributors) that must be UP, such as "readiness"; none for none. */
		private List<String> groups = new ArrayList<>();

		/**
		 * Path a process requests from itself, through a private loopback listener of its
		 * server, expecting a 2xx answer; none for no such request.
		 */
		private @Nullable String probePath;

		/** How long a process may take to become healthy before its upgrade fails. */
		private Duration timeout = Duration.ofSeconds(30);

		public boolean isEnabled() {
			return this.enabled;
		}

		public void setEnabled(boolean enabled) {
			this.enabled = enabled;
		}

		public List<String> getGroups() {
			return this.groups;
		}

		public void setGroups(List<String> groups) {
			this.groups = groups;
		}

		public @Nullable String getProbePath() {
			return this.probePath;
		}

		public void setProbePath(@Nullable String probePath) {
			this.probePath = probePath;
		}

		public Duration getTimeout() {
			return this.timeout;
		}

		public void setTimeout(Duration timeout) {
			this.timeout = timeout;
		}

	}

	/** How the new process takes over from the old one. */
	public static class Takeover {

		/**
		 * How long the old process keeps accepting beside the new one once the new one is
		 * ready, handing its keep-alive clients over little by little, while the new JVM's JIT
		 * warms up. The two take turns to accept within every 100 ms, the new one for a part
		 * that grows over the overlap. Zero stops accepting at once, as Go's tableflip does.
		 */
		private Duration overlap = Duration.ofSeconds(5);

		/**
		 * How long after the new process is ready the old one keeps its listeners and takes the
		 * service back if the new process dies or gives up: it serves alone again, rewrites the
		 * PID file and tells systemd, and the upgrade counts as failed. Only then does it drain.
		 * Not shorter than the overlap; unset, as long as the overlap.
		 */
		private @Nullable Duration probation;

		/**
		 * The nice value (0 to 19) the new process runs at until it is ready, so that its JVM
		 * start, warm-up and health gate use the CPU the serving process leaves rather than its
		 * share; at ready it comes back to the old process's nice value. Only where it can come
		 * back (CAP_SYS_NICE, which root has, or systemd's LimitNICE=, such as LimitNICE=+0); otherwise the
		 * log says why and it starts at the old process's priority. Unset: no change.
		 */
		private @Nullable Integer startNice;

		public Duration getOverlap() {
			return this.overlap;
		}

		public void setOverlap(Duration overlap) {
			this.overlap = overlap;
		}

		public @Nullable Duration getProbation() {
			return this.probation;
		}

		public void setProbation(@Nullable Duration probation) {
			this.probation = probation;
		}

		public @Nullable Integer getStartNice() {
			return this.startNice;
		}

		public void setStartNice(@Nullable Integer startNice) {
			this.startNice = startNice;
		}


		void check() {
			if (this.overlap == null || this.overlap.isNegative()) {
				throw new InvalidConfigurationPropertyValueException("tableflip.takeover.overlap", this.overlap,
						"must be zero (stop accepting as soon as the new process is ready) or positive");
			}
			if (this.probation != null && (this.probation.isNegative() || this.probation.compareTo(this.overlap) < 0)) {
				throw new InvalidConfigurationPropertyValueException("tableflip.takeover.probation", this.probation,
						"must not be shorter than tableflip.takeover.overlap (" + this.overlap
								+ "): the old process keeps its listeners at least while it accepts beside the new one");
			}
			if (this.startNice != null && (this.startNice < 0 || this.startNice > 19)) {
				throw new InvalidConfigurationPropertyValueException("tableflip.takeover.start-nice", this.startNice,
						"must be a nice value from 0 to 19 (the higher, the less CPU the new process takes before "
								+ "it is ready), or unset");
			}
		}

		/** The start nice value, or -1 for none (the core's way to say it). */
		public int startNiceOrNone() {
			return (this.startNice != null) ? this.startNice : -1;
		}

		/** The probation: as set, or as long as the overlap. */
		public Duration probation() {
			return (this.probation != null) ? this.probation : this.overlap;
		}
	}

	/**
	 * Requests a process sends itself, through a private loopback listener, before it is
	 * ready.
	 */
	public static class Warmup {

		/** Requests to send, taken in turn; none for no warm-up. */
		private List<Request> requests = new ArrayList<>();

		/** How many requests to send in all; zero to send them for the duration instead. */
		private int count;

		/** How long to send requests, when no count is set. */
		private @Nullable Duration duration;

		/** How many requests are in flight at once. */
		private int concurrency = 2;

		/** Whether an answer other than 2xx fails the warm-up, and with it the upgrade. */
		private boolean requireSuccess = true;

		/**
		 * Whether the warm-up goes on after its count or duration until the JIT has compiled
		 * for at most 1 % of the time (20 ms in 2 s) over the last 2 s and the last 10,000
		 * warm-up requests, whichever is longer, so that the hot paths are compiled before the
		 * process is ready.
		 */
		private boolean untilJitIdle;

		/** The longest a warm-up that waits for the JIT may take in all. */
		private Duration maxDuration = Duration.ofSeconds(40);

		public List<Request> getRequests() {
			return this.requests;
		}

		public void setRequests(List<Request> requests) {
			this.requests = requests;
		}

		public int getCount() {
			return this.count;
		}

		public void setCount(int count) {
			this.count = count;
		}

		public @Nullable Duration getDuration() {
			return this.duration;
		}

		public void setDuration(@Nullable Duration duration) {
			this.duration = duration;
		}

		public int getConcurrency() {
			return this.concurrency;
		}

		public void setConcurrency(int concurrency) {
			this.concurrency = concurrency;
		}

		public boolean isRequireSuccess() {
			return this.requireSuccess;
		}

		public void setRequireSuccess(boolean requireSuccess) {
			this.requireSuccess = requireSuccess;
		}

		public boolean isUntilJitIdle() {
			return this.untilJitIdle;
		}

		public void setUntilJitIdle(boolean untilJitIdle) {
			this.untilJitIdle = untilJitIdle;
		}

		public Duration getMaxDuration() {
			return this.maxDuration;
		}

		public void setMaxDuration(Duration maxDuration) {
			this.maxDuration = maxDuration;
		}

		void check(Duration upgradeTimeout) {
			if (this.requests.isEmpty()) {
				if (this.count != 0 || this.duration != null || this.untilJitIdle) {
					throw new InvalidConfigurationPropertyValueException("tableflip.warmup.requests", "[]",
							"a warm-up count, duration or until-jit-idle is set but no request: add tableflip.warmup.requests[0].path");
				}
				return;
			}
			boolean byCount = this.count > 0;
			boolean byDuration = this.duration != null;
			if (this.count < 0 || byCount == byDuration) {
				throw new InvalidConfigurationPropertyValueException("tableflip.warmup.count", this.count,
						"set either a positive tableflip.warmup.count or a tableflip.warmup.duration, not both");
			}
			if (byDuration && (this.duration.isNegative() || this.duration.isZero()
					|| this.duration.compareTo(upgradeTimeout) >= 0)) {
				throw new InvalidConfigurationPropertyValueException("tableflip.warmup.duration", this.duration,
						"must be positive and well below tableflip.upgrade-timeout (" + upgradeTimeout
								+ "), or every upgrade times out");
			}
			if (this.concurrency < 1) {
				throw new InvalidConfigurationPropertyValueException("tableflip.warmup.concurrency", this.concurrency,
						"must be at least 1");
			}
			if (this.untilJitIdle && (this.maxDuration == null || this.maxDuration.isNegative() || this.maxDuration.isZero()
					|| this.maxDuration.compareTo(upgradeTimeout) >= 0)) {
				throw new InvalidConfigurationPropertyValueException("tableflip.warmup.max-duration", this.maxDuration,
						"must be positive and well below tableflip.upgrade-timeout (" + upgradeTimeout
								+ "), or an upgrade whose JIT stays busy times out");
			}
			if (this.untilJitIdle && byDuration && this.duration.compareTo(this.maxDuration) >= 0) {
				throw new InvalidConfigurationPropertyValueException("tableflip.warmup.max-duration", this.maxDuration,
						"must be longer than tableflip.warmup.duration (" + this.duration
								+ "): the warm-up waits for the JIT after its duration");
			}
			for (int i = 0; i < this.requests.size(); i++) {
				Request request = this.requests.get(i);
				if (request.path == null || !request.path.startsWith("/")) {
					throw new InvalidConfigurationPropertyValueException("tableflip.warmup.requests[" + i + "].path",
							request.path, "must be a path starting with '/', such as /orders?limit=10");
				}
				if (request.method == null || !request.method.matches("[A-Za-z]+")) {
					throw new InvalidConfigurationPropertyValueException(
							"tableflip.warmup.requests[" + i + "].method", request.method,
							"must be an HTTP method, such as GET or POST");
				}
			}
		}

		/** One warm-up request. */
		public static class Request {

			/** HTTP method. */
			private String method = "GET";

			/** Path and query, starting with '/'. */
			private @Nullable String path;

			/** Request body; none if not set. */
			private @Nullable String body;

			/** Content type of the body. */
			private String contentType = "application/json";

			public String getMethod() {
				return this.method;
			}

			public void setMethod(String method) {
				this.method = method;
			}

			public @Nullable String getPath() {
				return this.path;
			}

			public void setPath(@Nullable String path) {
				this.path = path;
			}

			public @Nullable String getBody() {
				return this.body;
			}

			public void setBody(@Nullable String body) {
				this.body = body;
			}

			public String getContentType() {
				return this.contentType;
			}

			public void setContentType(String contentType) {
				this.contentType = contentType;
			}

		}

	}

}
