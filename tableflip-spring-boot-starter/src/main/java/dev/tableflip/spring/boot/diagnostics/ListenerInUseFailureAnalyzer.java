package dev.tableflip.spring.boot.diagnostics;

import org.springframework.boot.diagnostics.AbstractFailureAnalyzer;
import org.springframework.boot.diagnostics.FailureAnalysis;
import org.springframework.boot.web.server.PortInUseException;
import org.springframework.core.Ordered;

/**
 * A port that another process holds: Spring Boot's own analysis of a port in use, plus the
 * case that tableflip's users meet, a systemd socket unit that holds the port for the service,
 * started by hand beside it. Before Boot's analyzer of the same failure.
 */
class ListenerInUseFailureAnalyzer extends AbstractFailureAnalyzer<PortInUseException> implements Ordered {

	@Override
	protected FailureAnalysis analyze(Throwable rootFailure, PortInUseException cause) {
		int port = cause.getPort();
		return new FailureAnalysis("Web server failed to start. Port " + port + " was already in use.",
				"Identify and stop the process that's listening on port " + port + " (ss -ltnp 'sport = :" + port
						+ "'), or configure this application to listen on another port. If a systemd socket unit "
						+ "holds it (systemctl list-sockets), start the service through that unit, which hands "
						+ "the socket over, rather than beside it. During an upgrade the new process does not "
						+ "bind the port: the old one hands it over.",
				cause);
	}

	@Override
	public int getOrder() {
		return Ordered.HIGHEST_PRECEDENCE;
	}

}
