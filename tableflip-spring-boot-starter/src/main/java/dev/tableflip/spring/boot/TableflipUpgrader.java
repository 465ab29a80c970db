package dev.tableflip.spring.boot;

import java.io.IOException;
import java.net.BindException;
import java.net.InetAddress;
import java.nio.channels.ServerSocketChannel;
import java.util.List;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;

import dev.tableflip.Descriptor;
import dev.tableflip.Fds;
import dev.tableflip.Lineage;
import dev.tableflip.Upgrader;
import dev.tableflip.UpgraderOptions;
import org.jspecify.annotations.Nullable;

/**
 * The application's side of tableflip: the core {@link Upgrader} of this JVM plus what a
 * Spring application wants to know about it (state, generation, lineage, the last upgrades),
 * for the servers, the endpoint, health and metrics. The process's life itself, its state and
 * every move of it, is {@link ProcessLife}'s; this class is its view.
 */
public class TableflipUpgrader {

	private final Upgrader upgrader;

	private final boolean shared;

	private final ProcessLife life;

	/** Wraps an upgrader the caller owns. */
	public TableflipUpgrader(Upgrader upgrader) {
		this(upgrader, false);
	}

	private TableflipUpgrader(Upgrader upgrader, boolean shared) {
		this.upgrader = upgrader;
		this.shared = shared;
		this.life = new ProcessLife(upgrader);
	}

	/**
	 * The upgrader of this JVM, shared by every application context in it; the last
	 * {@link #stop()} stops it.
	 */
	public static TableflipUpgrader shared(UpgraderOptions options) throws IOException {
		return new TableflipUpgrader(SharedUpgrader.acquire(options), true);
	}

	/** The core upgrader. */
	public Upgrader upgrader() {
		return this.upgrader;
	}

	/** The life of this process: its state machine. */
	public ProcessLife life() {
		return this.life;
	}

	/**
	 * The listening socket for a web server on this address and port: the one inherited from
	 * the old process, or a new one. For port 0 the inherited TCP listener on the same
	 * address, whatever port it got, is reused, so that a random port survives upgrades.
	 * @param address the address to bind, {@code null} for all
	 */
	public ServerSocketChannel listener(@Nullable InetAddress address, int port) throws IOException {
		String host = (address == null) ? "" : address.getHostAddress();
		if (host.contains(":")) {
			host = "[" + host + "]";
		}
		Fds fds = fds();
		if (port == 0) {
			for (Descriptor inherited : fds.inherited()) {
				if (inherited.kind() == Descriptor.Kind.LISTENER && inherited.network().equals("tcp")
						&& inherited.address().startsWith(host + ":")
						&& inherited.address().indexOf(':', host.length() + 1) < 0) {
					return fds.listener("tcp", inherited.address());
				}
			}
		}
		try {
			return fds.listen("tcp", host + ":" + port);
		}
		catch (IOException ex) {
			if (ex.getCause() instanceof BindException && port > 0) {
				throw WebServer.portInUse(port, ex);
			}
			throw ex;
		}
	}

	/** The registry of inherited and used sockets. */
	public Fds fds() {
		return this.upgrader.fds();
	}

	/** Where this process is in its life ({@link ProcessLife}'s state). */
	public ProcessLife.State state() {
		return this.life.state();
	}

	/** The step running in this process, if any: a takeover step ("warm-up", "overlap") or "drain". */
	public @Nullable String step() {
		return this.life.step();
	}

	/** Whether responses keep their connection alive: the servers ask for each response. */
	public KeepAlive keepAlive() {
		return this.life.keepAlive();
	}

	/** The requests the web server runs now, reported by name if the server stops or the process halts under them. */
	public InFlightRequests requests() {
		return this.life.requests();
	}

	/**
	 * When servers may accept from the listeners: at once in a process started by hand; in a
	 * process started by an upgrade, not before it is ready, then for a growing part of the
	 * time during the overlap.
	 */
	public Intake intake() {
		return this.life.intake();
	}

	/** 1 for a process started by hand, one more for each upgrade since. */
	public int generation() {
		return this.upgrader.generation();
	}

	/**
	 * The story of this service across upgrades: when and why this process was started, and
	 * the upgrades of this process and all its ancestors.
	 */
	public Lineage lineage() {
		return this.upgrader.lineage();
	}

	public long pid() {
		return ProcessHandle.current().pid();
	}

	public OptionalLong parentPid() {
		return this.upgrader.parentPid();
	}

	/** The last upgrades (and rollbacks), oldest first. */
	public List<UpgradeRecord> history() {
		return this.life.history();
	}

	/**
	 * Adds a server to the drain after a successful upgrade. Server adapters register
	 * themselves, in whichever application context (main or management) they serve.
	 */
	public void participate(DrainParticipant participant) {
		this.life.participate(participant);
	}

	/** The servers that take part in the drain. */
	public List<DrainParticipant> drainParticipants() {
		return this.life.drainParticipants();
	}

	/** Calls {@code listener} after each upgrade attempt, and after each rollback. */
	public void onUpgrade(Consumer<UpgradeRecord> listener) {
		this.life.onUpgrade(listener);
	}

	/** Tells {@code listener} the trigger of each upgrade that started a new process, before its outcome. */
	public void onUpgradeStarted(Consumer<String> listener) {
		this.life.onUpgradeStarted(listener);
	}

	/**
	 * Tells {@code listener} the name of each step of this process's life as it starts: the
	 * takeover's steps ({@code warm-up}, {@code health gate} before ready, {@code overlap} in the
	 * old process after it) and the old process's {@code drain} (until Spring's graceful
	 * shutdown); {@code null} when it ends.
	 */
	public void onStep(Consumer<@Nullable String> listener) {
		this.life.onStep(listener);
	}

	/**
	 * Tells the parent, if any, that this process serves. The application's life does this
	 * itself after the takeover's before-ready steps; for code that runs an upgrader without it.
	 */
	public void ready() throws IOException {
		this.life.ready();
	}

	/**
	 * Starts a new process and waits until it is ready or failed.
	 * @param trigger what asked for it, for the record
	 */
	public UpgradeRecord upgrade(String trigger) {
		return upgradeAsync(trigger).join();
	}

	/** Like {@link #upgrade(String)}, without blocking; the future never fails. */
	public CompletableFuture<UpgradeRecord> upgradeAsync(String trigger) {
		return this.life.upgradeAsync(trigger);
	}

	/** No more upgrades: the application is shutting down. */
	public void stop() {
		this.life.stop();
		if (this.shared) {
			SharedUpgrader.release(this.upgrader);
		}
		else {
			this.upgrader.stop();
		}
	}

	/** Kept apart: Boot's web server classes are there only in a web application, which alone asks for listeners. */
	private static final class WebServer {

		/** Spring Boot's own failure for a port in use, which its failure analysis explains. */
		static RuntimeException portInUse(int port, IOException cause) {
			return new org.springframework.boot.web.server.PortInUseException(port, cause);
		}

	}

}
