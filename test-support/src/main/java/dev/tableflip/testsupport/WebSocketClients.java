package dev.tableflip.testsupport;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Clients of a WebSocket echo that answers each text with {@code "<pid>: <text>"}, the JDK's
 * own, each of which opens a new session when the server closes its session, as a browser
 * application does on 1001 (going away). They count how their sessions ended: closes by status
 * code (with a close frame), and sessions cut without one. {@link #pids()} asks each client's
 * current session which process it is in. Each client pings every few seconds, as long-lived
 * clients do to keep a session open through a server's idle timeout (Jetty's is 30 s).
 *
 * <p>A busy client keeps the server working on its session nearly all the time: it sends
 * {@code "work <ms>"}, which the echo answers after its handler worked that long on the server's
 * thread, and sends the next as soon as the answer comes. A server that looks for its sessions
 * by the connections idle at one instant does not see this one.
 */
public final class WebSocketClients implements AutoCloseable {

	private static final Duration WAIT = Duration.ofSeconds(30);

	/** The question each client asks its session: the echo's answer names the process. */
	private static final String WHICH_PROCESS = "which process?";

	/** How long a busy client's every message keeps the server's handler working. */
	private static final Duration WORK = Duration.ofMillis(200);

	private final URI uri;

	private final HttpClient http;

	private final List<Client> clients = new ArrayList<>();

	private final Map<Integer, Integer> closes = new TreeMap<>();

	private final List<Instant> closedAt = new ArrayList<>();

	private final List<String> cuts = new ArrayList<>();

	private volatile boolean closing;

	private final ScheduledExecutorService pings = Executors.newSingleThreadScheduledExecutor((task) -> {
		Thread thread = new Thread(task, "websocket-pings");
		thread.setDaemon(true);
		return thread;
	});

	/** Opens {@code count} sessions on {@code path} ({@code wss} when {@code tls}). */
	public WebSocketClients(InetSocketAddress address, boolean tls, String path, int count) {
		this(address, tls, path, count, 0);
	}

	/**
	 * Opens {@code count} sessions on {@code path} ({@code wss} when {@code tls}), of which
	 * {@code busy} keep the server's handler working on them.
	 */
	public WebSocketClients(InetSocketAddress address, boolean tls, String path, int count, int busy) {
		this.uri = URI.create((tls ? "wss" : "ws") + "://" + address.getHostString() + ":" + address.getPort() + path);
		this.http = tls ? HttpClient.newBuilder().sslContext(HttpLoad.trustingAnyCertificate()).build()
				: HttpClient.newHttpClient();
		for (int i = 0; i < count; i++) {
			Client client = new Client(i < busy);
			client.open();
			this.clients.add(client);
		}
		this.pings.scheduleWithFixedDelay(() -> this.clients.forEach(Client::ping), 5, 5, TimeUnit.SECONDS);
	}

	/**
	 * The pid each client's session answers from now; a client whose session was just closed
	 * answers from its next one.
	 */
	public Set<Long> pids() throws Exception {
		Set<Long> pids = new TreeSet<>();
		for (Client client : this.clients) {
			pids.add(client.ask());
		}
		return pids;
	}

	/** Sessions the server closed, by the status code of its close frame. */
	public synchronized Map<Integer, Integer> closes() {
		return new TreeMap<>(this.closes);
	}

	/** When the server closed each session, in order. */
	public synchronized List<Instant> closedAt() {
		return List.copyOf(this.closedAt);
	}

	/** Sessions that ended without a close frame, and how. */
	public synchronized List<String> cuts() {
		return List.copyOf(this.cuts);
	}

	public synchronized String summary() {
		return this.clients.size() + " WebSocket clients: closes by status " + this.closes + ", " + this.cuts.size()
				+ " cut without a close frame " + this.cuts;
	}

	/** Closes every session normally (1000). */
	@Override
	public void close() {
		this.closing = true;
		this.pings.shutdownNow();
		for (Client client : this.clients) {
			client.session.join().sendClose(WebSocket.NORMAL_CLOSURE, "done").orTimeout(5, TimeUnit.SECONDS)
				.exceptionally((ex) -> null).join();
		}
	}

	private synchronized void closed(int status) {
		this.closes.merge(status, 1, Integer::sum);
		this.closedAt.add(Instant.now());
	}

	private synchronized void cut(String how) {
		this.cuts.add(Instant.now() + " " + how);
	}

	/** One client: a session at a time, the next opened when the server closes the current one. */
	private final class Client implements WebSocket.Listener {

		private final boolean busy;

		/** Held over each text sent: a WebSocket takes one at a time, and the busy client's work and the questions share it. */
		private final Object sending = new Object();

		private volatile CompletableFuture<WebSocket> session;

		private volatile CompletableFuture<String> reply = new CompletableFuture<>();

		private final StringBuilder text = new StringBuilder();

		Client(boolean busy) {
			this.busy = busy;
		}

		void open() {
			this.session = WebSocketClients.this.http.newWebSocketBuilder()
				.connectTimeout(WAIT)
				.buildAsync(WebSocketClients.this.uri, this);
			this.session.whenComplete((webSocket, ex) -> {
				if (ex != null) {
					cut("could not open a session: " + ex);
				}
				else if (this.busy) {
					work(webSocket);
				}
			});
		}

		/** Gives the server its next piece of work on this session (none once the session is closing). */
		private void work(WebSocket webSocket) {
			try {
				send(webSocket, "work " + WORK.toMillis());
			}
			catch (Exception ex) {
				// the session is closing: the next one gets the next piece of work
			}
		}

		private void send(WebSocket webSocket, String text) throws Exception {
			synchronized (this.sending) {
				webSocket.sendText(text, true).get(WAIT.toSeconds(), TimeUnit.SECONDS);
			}
		}

		/** Asks the current session; once more, on the next session, if this one was closing. */
		synchronized long ask() throws Exception {
			for (int attempt = 1;; attempt++) {
				this.reply = new CompletableFuture<>();
				try {
					WebSocket webSocket = this.session.get(WAIT.toSeconds(), TimeUnit.SECONDS);
					send(webSocket, WHICH_PROCESS);
					String answer = this.reply.get(WAIT.toSeconds(), TimeUnit.SECONDS);
					return Long.parseLong(answer.substring(0, answer.indexOf(':')));
				}
				catch (ExecutionException ex) {
					if (attempt == 3) {
						throw ex;
					}
					Thread.sleep(200);
				}
			}
		}

		synchronized void ping() {
			CompletableFuture<WebSocket> session = this.session;
			if (session.isDone() && !session.isCompletedExceptionally() && !session.join().isOutputClosed()) {
				session.join().sendPing(ByteBuffer.allocate(0)).exceptionally((ex) -> null);
			}
		}

		@Override
		public CompletionStage<?> onText(WebSocket webSocket, CharSequence data, boolean last) {
			this.text.append(data);
			if (last) {
				String answer = this.text.toString();
				this.text.setLength(0);
				if (answer.endsWith(WHICH_PROCESS)) {
					this.reply.complete(answer);
				}
				else if (this.busy && !WebSocketClients.this.closing && !webSocket.isOutputClosed()) {
					work(webSocket);
				}
			}
			webSocket.request(1);
			return null;
		}

		@Override
		public CompletionStage<?> onClose(WebSocket webSocket, int statusCode, String reason) {
			if (WebSocketClients.this.closing) {
				return null;
			}
			// 1006 is what the JDK reports when the connection ended without a close frame
			if (statusCode == 1006) {
				cut("closed without a close frame (1006)");
			}
			else {
				closed(statusCode);
			}
			open();
			return null;
		}

		@Override
		public void onError(WebSocket webSocket, Throwable error) {
			if (!WebSocketClients.this.closing) {
				cut(error.toString());
				open();
			}
		}

	}

}
