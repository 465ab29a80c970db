import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Long-lived clients of the sample, for try-upgrade.sh: one server-sent event stream that
 * resumes with Last-Event-ID whenever it ends, and WebSocket sessions on /echo that reopen
 * whenever they are closed. Prints each move to another process as it happens, and a summary
 * once the file STOP exists. Run with: java LongLivedClients.java PORT SESSIONS STOP
 */
public class LongLivedClients {

	static final HttpClient client = HttpClient.newHttpClient();

	static final AtomicLong events = new AtomicLong();

	static final AtomicLong lostEvents = new AtomicLong();

	static final AtomicLong streamsCut = new AtomicLong();

	static final AtomicLong goingAway = new AtomicLong();

	static final AtomicLong closedOtherwise = new AtomicLong();

	static volatile boolean running = true;

	public static void main(String[] args) throws Exception {
		int port = Integer.parseInt(args[0]);
		int sessions = Integer.parseInt(args[1]);
		Path stop = Path.of(args[2]);
		Thread stream = new Thread(() -> events(port), "events");
		stream.setDaemon(true);
		stream.start();
		for (int i = 1; i <= sessions; i++) {
			new Session(port, i).open();
		}
		while (!Files.exists(stop)) {
			Thread.sleep(100);
		}
		running = false;
		System.out.printf("event stream:        %d events, %d lost, %d stream(s) cut without an end%n", events.get(),
				lostEvents.get(), streamsCut.get());
		System.out.printf("WebSocket sessions:  %d closed with 1001 (going away) and reopened, %d closed otherwise%n",
				goingAway.get(), closedOtherwise.get());
		System.exit(0);
	}

	/** Reads the stream; when it ends, asks for the next event on with Last-Event-ID. */
	static void events(int port) {
		long last = 0;
		long pid = 0;
		while (running) {
			HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/events"));
			if (last > 0) {
				request.header("Last-Event-ID", Long.toString(last));
			}
			long first = 0;
			try {
				Iterator<String> lines = client.send(request.build(), HttpResponse.BodyHandlers.ofLines()).body().iterator();
				while (lines.hasNext()) {
					String line = lines.next();
					if (line.startsWith("data:")) { // "tick <id> from <pid>"
						String[] words = line.substring(5).trim().split(" ");
						long id = Long.parseLong(words[1]);
						long from = Long.parseLong(words[3]);
						if (id != last + 1 && last > 0) {
							lostEvents.addAndGet(id - last - 1);
						}
						if (first == 0 && pid != 0) {
							System.out.printf("event stream:        resumed at event %d from process %d (previous: %d)%n",
									id, from, pid);
						}
						first = (first == 0) ? id : first;
						last = id;
						pid = from;
						events.incrementAndGet();
					}
				}
				if (running && first > 0) {
					System.out.printf("event stream:        ended cleanly by process %d after event %d%n", pid, last);
				}
			}
			catch (Exception ex) {
				if (running) {
					streamsCut.incrementAndGet();
					System.out.println("event stream:        cut: " + ex);
					sleep(200);
				}
			}
		}
	}

	/** A WebSocket session that says hello twice a second and reopens when it is closed. */
	static final class Session implements WebSocket.Listener {

		final int port;

		final int number;

		/** The process that answered last; 0 until the first answer after each (re)open. */
		volatile long pid;

		volatile long previous;

		Session(int port, int number) {
			this.port = port;
			this.number = number;
		}

		void open() {
			client.newWebSocketBuilder()
				.buildAsync(URI.create("ws://127.0.0.1:" + this.port + "/echo"), this)
				.whenComplete((socket, failure) -> {
					if (failure != null) {
						if (running) {
							sleep(200);
							open();
						}
						return;
					}
					Thread hello = new Thread(() -> {
						while (running && !socket.isOutputClosed()) {
							socket.sendText("hello", true);
							sleep(500);
						}
					});
					hello.setDaemon(true);
					hello.start();
				});
		}

		@Override
		public CompletionStage<?> onText(WebSocket socket, CharSequence text, boolean last) {
			long from = Long.parseLong(text.toString().substring(0, text.toString().indexOf(':'))); // "<pid>: hello"
			if (this.pid == 0 && this.previous != 0) {
				System.out.printf("WebSocket session %d: reopened, answered by process %d (previous: %d)%n", this.number,
						from, this.previous);
			}
			this.pid = from;
			socket.request(1);
			return null;
		}

		@Override
		public CompletionStage<?> onClose(WebSocket socket, int status, String reason) {
			if (running) {
				if (status == 1001) {
					goingAway.incrementAndGet();
				}
				else {
					closedOtherwise.incrementAndGet();
				}
				System.out.printf("WebSocket session %d: closed by process %d with %d (%s); reopening%n", this.number,
						this.pid, status, (status == 1001) ? "going away" : reason);
				reopen();
			}
			return CompletableFuture.completedFuture(null);
		}

		private void reopen() {
			this.previous = this.pid;
			this.pid = 0;
			open();
		}

		@Override
		public void onError(WebSocket socket, Throwable error) {
			if (running) {
				closedOtherwise.incrementAndGet();
				System.out.printf("WebSocket session %d: cut without a close frame (%s); reopening%n", this.number,
						error);
				reopen();
			}
		}

	}

	static void sleep(long ms) {
		try {
			Thread.sleep(ms);
		}
		catch (InterruptedException ex) {
			Thread.currentThread().interrupt();
		}
	}

}
