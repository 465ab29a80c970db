package dev.tableflip.spring.boot.web;

import dev.tableflip.spring.boot.InFlightRequests;
import org.apache.commons.logging.Log;
import org.apache.commons.logging.LogFactory;

import org.springframework.boot.web.server.context.WebServerGracefulShutdownLifecycle;
import org.springframework.context.SmartLifecycle;

/**
 * Names the requests that are still running once Spring's graceful shutdown is over (it gave
 * up after {@code spring.lifecycle.timeout-per-shutdown-phase}, or shutdown is immediate): the
 * web server stops next and cuts them. Stops between the graceful shutdown and the web server.
 */
public class InFlightRequestsReport implements SmartLifecycle {

	private static final Log logger = LogFactory.getLog(InFlightRequestsReport.class);

	private final InFlightRequests requests;

	private volatile boolean running;

	public InFlightRequestsReport(InFlightRequests requests) {
		this.requests = requests;
	}

	@Override
	public void start() {
		this.running = true;
	}

	@Override
	public void stop() {
		this.running = false;
		if (this.requests.count() > 0) {
			logger.warn(this.requests.count() + " request(s) still running when the web server stops (Spring's "
					+ "graceful shutdown waits for them at most spring.lifecycle.timeout-per-shutdown-phase); "
					+ "the server cuts them now: " + this.requests.describe());
		}
	}

	@Override
	public boolean isRunning() {
		return this.running;
	}

	@Override
	public int getPhase() {
		return WebServerGracefulShutdownLifecycle.SMART_LIFECYCLE_PHASE - 512; // stops after it, before the server
	}

}
