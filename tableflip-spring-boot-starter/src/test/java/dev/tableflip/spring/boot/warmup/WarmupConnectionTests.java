package dev.tableflip.spring.boot.warmup;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatExceptionOfType;
import static org.assertj.core.api.Assertions.assertThatIOException;

/**
 * The warm-up's connection against a loopback server that answers with the bytes each test
 * gives it, the way a server may: a kept-alive connection closed between requests, an answer
 * cut short, a silent server, a malformed status line.
 */
class WarmupConnectionTests {

	private static final byte[] GET = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1);

	private final AtomicInteger accepted = new AtomicInteger();

	private ServerSocket server;

	private Thread serving;

	@AfterEach
	void stop() throws Exception {
		this.server.close();
		this.serving.interrupt();
		this.serving.join(5_000);
	}

	/** Serves each connection: reads one request's head, writes {@code answer}, then closes it unless told to keep it. */
	private WarmupConnection serve(String answer, boolean keepOpen) throws IOException {
		this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
		this.serving = new Thread(() -> {
			while (!this.server.isClosed()) {
				try (Socket socket = this.server.accept()) {
					this.accepted.incrementAndGet();
					readHead(socket.getInputStream());
					OutputStream out = socket.getOutputStream();
					out.write(answer.getBytes(StandardCharsets.ISO_8859_1));
					out.flush();
					while (keepOpen && socket.getInputStream().read() >= 0) {
						// silent until the client gives up
					}
				}
				catch (IOException ex) {
					// the test closed the server, or the client its connection
				}
			}
		});
		this.serving.setDaemon(true);
		this.serving.start();
		InetSocketAddress address = new InetSocketAddress(InetAddress.getLoopbackAddress(), this.server.getLocalPort());
		return new WarmupConnection(address, Duration.ofSeconds(5), Duration.ofMillis(500));
	}

	private static void readHead(InputStream in) throws IOException {
		int last4 = 0;
		for (int b = in.read(); b >= 0; b = in.read()) {
			last4 = (last4 << 8) | b;
			if (last4 == 0x0d0a0d0a) {
				return;
			}
		}
	}

	@Test
	void aKeptAliveConnectionTheServerClosedBeforeTheNextRequestIsOpenedAgainOnce() throws Exception {
		try (WarmupConnection connection = serve("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false)) {
			assertThat(connection.exchange(GET, false)).isEqualTo(200);
			Thread.sleep(100); // the server has closed it meanwhile, without saying so
			assertThat(connection.exchange(GET, false)).isEqualTo(200);
			assertThat(this.accepted).hasValue(2);
		}
	}

	@Test
	void aNewConnectionTheServerClosesWithoutAnAnswerFails() throws Exception {
		try (WarmupConnection connection = serve("", false)) {
			assertThatIOException().isThrownBy(() -> connection.exchange(GET, false))
				.withMessageContaining("closed before an answer");
			assertThat(this.accepted).hasValue(1);
		}
	}

	@Test
	void anAnswerCutShortFailsAndIsNotSentAgain() throws Exception {
		try (WarmupConnection connection = serve("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nok", false)) {
			assertThatIOException().isThrownBy(() -> connection.exchange(GET, false));
			assertThat(this.accepted).hasValue(1);
		}
	}

	@Test
	void aSilentServerTimesOutAndTheRequestIsNotSentAgain() throws Exception {
		try (WarmupConnection connection = serve("", true)) {
			assertThatExceptionOfType(SocketTimeoutException.class).isThrownBy(() -> connection.exchange(GET, false));
			assertThat(this.accepted).hasValue(1);
		}
	}

	@Test
	void aStatusLineThatIsNotHttpIsAnErrorThatSaysWhatCame() throws Exception {
		try (WarmupConnection connection = serve("SSH-2.0-OpenSSH_9.2\r\n", false)) {
			assertThatIOException().isThrownBy(() -> connection.exchange(GET, false))
				.withMessage("not an HTTP/1.x status line: \"SSH-2.0-OpenSSH_9.2\"");
		}
	}

	@Test
	void interimAnswersAreSkippedAndAChunkedBodyWithTrailersIsReadToItsEnd() throws Exception {
		String answer = "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
				+ "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
				+ "2;x=y\r\nok\r\n0\r\nX-Trailer: 1\r\n\r\n";
		try (WarmupConnection connection = serve(answer, true)) {
			assertThat(connection.exchange(GET, false)).isEqualTo(201);
		}
	}

}
