package dev.tableflip.spring.boot.actuate;

import java.io.IOException;
import java.net.HttpURLConnection;
import java.net.InetSocketAddress;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.function.Supplier;

import dev.tableflip.spring.boot.TakeoverStep;
import dev.tableflip.spring.boot.PrivateListener;
import org.jspecify.annotations.Nullable;

import org.springframework.boot.availability.ApplicationAvailability;
import org.springframework.boot.availability.ReadinessState;
import org.springframework.boot.health.actuate.endpoint.HealthDescriptor;
import org.springframework.boot.health.actuate.endpoint.HealthEndpoint;
import org.springframework.boot.health.contributor.Status;
import org.springframework.core.Ordered;

/**
 * A process says it is ready only once it is healthy: its readiness state accepts traffic,
 * the chosen health groups are UP, and (if a path is set) a request to itself through a private
 * loopback listener of its server answers 2xx. Otherwise, at the timeout, the upgrade fails
 * with what was wrong, and the old process keeps serving. Runs after the warm-up.
 */
public final class HealthGate implements TakeoverStep, Ordered {

	private static final long POLL_MILLIS = 200;

	private final ApplicationAvailability availability;

	private final Supplier<@Nullable HealthEndpoint> health;

	private final List<String> groups;

	private final @Nullable String probePath;

	private final Supplier<PrivateListener> listener;

	private final Duration timeout;

	public HealthGate(ApplicationAvailability availability, Supplier<@Nullable HealthEndpoint> health,
			List<String> groups, @Nullable String probePath, Supplier<PrivateListener> listener, Duration timeout) {
		this.availability = availability;
		this.health = health;
		this.groups = List.copyOf(groups);
		this.probePath = probePath;
		this.listener = listener;
		this.timeout = timeout;
	}

	@Override
	public Phase phase() {
		return Phase.BEFORE_READY;
	}

	@Override
	public String name() {
		return "health gate";
	}

	@Override
	public int getOrder() {
		return 100; // after the warm-up (0): a warmed-up application is judged
	}

	@Override
	public void run() throws Exception {
		long deadline = System.nanoTime() + this.timeout.toNanos();
		PrivateListener probe = null;
		String base = null;
		try {
			if (this.probePath != null) {
				probe = this.listener.get();
				InetSocketAddress address = probe.open();
				base = "http://" + address.getAddress().getHostAddress() + ":" + address.getPort();
			}
			while (true) {
				String problem = problem(base);
				if (problem == null) {
					return;
				}
				if (System.nanoTime() > deadline) {
					throw new IllegalStateException(problem + " after " + this.timeout.toMillis()
							+ " ms (tableflip.health-gate.timeout)");
				}
				Thread.sleep(POLL_MILLIS);
			}
		}
		finally {
			if (probe != null) {
				probe.close();
			}
		}
	}

	/** What keeps this process from being ready, or {@code null}. */
	private @Nullable String problem(@Nullable String base) {
		ReadinessState readiness = this.availability.getReadinessState();
		if (readiness != ReadinessState.ACCEPTING_TRAFFIC) {
			return "the readiness state is " + readiness;
		}
		if (!this.groups.isEmpty()) {
			HealthEndpoint health = this.health.get();
			if (health == null) {
				return "tableflip.health-gate.groups needs the health endpoint, and it is not available";
			}
			for (String group : this.groups) {
				HealthDescriptor descriptor = health.healthForPath(group);
				if (descriptor == null) {
					return "there is no health group or contributor named '" + group + "'";
				}
				if (!Status.UP.equals(descriptor.getStatus())) {
					return "health group '" + group + "' is " + descriptor.getStatus();
				}
			}
		}
		if (base != null) {
			return probe(base + this.probePath);
		}
		return null;
	}

	private @Nullable String probe(String url) {
		try {
			HttpURLConnection connection = (HttpURLConnection) URI.create(url).toURL().openConnection();
			connection.setConnectTimeout(5000);
			connection.setReadTimeout(5000);
			connection.setRequestProperty("Connection", "close");
			try {
				int status = connection.getResponseCode();
				return (status >= 200 && status <= 299) ? null : "GET " + this.probePath + " answered " + status;
			}
			finally {
				connection.disconnect();
			}
		}
		catch (IOException ex) {
			return "GET " + this.probePath + " failed: " + ex;
		}
	}

}
