package dev.tableflip.spring.boot.warmup;

import java.net.InetSocketAddress;

import org.springframework.boot.web.server.WebServer;

/**
 * A private loopback listener of the application's own web server, open only while the
 * warm-up runs: warm-up requests reach this process's server through it, never the shared
 * listener (where the old process could answer them). Server adapters provide one.
 */
public interface WarmupListener {

	/** Whether this listener can open one for the application's running server. */
	boolean isFor(WebServer server);

	/**
	 * Opens the listener on an ephemeral loopback port.
	 * @return where it listens
	 * @throws Exception if the server cannot open one
	 */
	InetSocketAddress open() throws Exception;

	/** Closes the listener and every connection accepted on it. */
	void close();

}
