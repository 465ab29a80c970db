package dev.tableflip;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Stream;

import dev.tableflip.fixture.ServiceProcesses;
import dev.tableflip.fixture.ServiceProcesses.Event;
import dev.tableflip.testsupport.ApplicationProcesses;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Upgrades between real JVM processes over real sockets: each test starts a {@code Service}
 * JVM, upgrades it through its control port and checks what clients see.
 */
class UpgraderProcessTest extends ServiceProcessTest {

	@Test
	void listenerIsHandedOverAndAcceptsInTheChildWhileTheParentStillServes() throws Exception {
		Event parent = this.services.start("tcp=" + this.tcp, "linger-ms=4000");
		assertThat(askPid()).isEqualTo(parent.pid());

		assertThat(this.services.control(parent, "upgrade")).isEqualTo("OK");
		Event child = this.services.awaitOther("READY", parent.pid(), WAIT);
		assertThat(this.services.control(parent, "upgrade")).startsWith("FAILED ALREADY_UPGRADED");

		Set<Long> answered = new HashSet<>();
		for (int i = 0; i < 200 && answered.size() < 2 && ServiceProcesses.alive(parent.pid()); i++) {
			answered.add(askPid());
		}
		assertThat(answered).as(this.services.diagnostics()).containsExactlyInAnyOrder(parent.pid(), child.pid());

		this.services.awaitGone(parent.pid(), WAIT);
		for (int i = 0; i < 20; i++) {
			assertThat(askPid()).isEqualTo(child.pid());
		}
	}


	@Test
	void udpAndUnixSocketsAreHandedOver() throws Exception {
		Path unix = this.directory.resolve("service.sock");
		String udp = "127.0.0.1:" + freeUdpPort();
		Event parent = this.services.start("unix=" + unix, "udp=" + udp);
		assertThat(askUnix(unix)).isEqualTo(parent.pid());
		assertThat(askUdp(udp)).isEqualTo(parent.pid());

		assertThat(this.services.control(parent, "upgrade")).isEqualTo("OK");
		Event child = this.services.awaitOther("READY", parent.pid(), WAIT);
		this.services.awaitGone(parent.pid(), WAIT);

		assertThat(askUnix(unix)).isEqualTo(child.pid());
		assertThat(askUdp(udp)).isEqualTo(child.pid());
		assertThat(unix).as("the parent must not remove the socket file the child uses").exists();
	}

	@Test
	void listenerTheApplicationClosedIsStillHandedOverBecauseTheRegistryKeptItsOwnCopy() throws Exception {
		String closed = "127.0.0.1:" + ApplicationProcesses.freePort();
		Event parent = this.services.start("tcp=" + this.tcp, "tcp-closed=" + closed, "linger-ms=2000");
		List<Socket> clients = new ArrayList<>();
		try {
			// Accepted connections take the lowest free numbers: the closed listener's among them.
			for (int i = 0; i < 5; i++) {
				Socket client = connect();
				assertThat(readLine(client)).isEqualTo(Long.toString(parent.pid()));
				clients.add(client);
			}
			assertThat(this.services.control(parent, "upgrade")).isEqualTo("OK");
			Event child = this.services.awaitOther("READY", parent.pid(), WAIT);

			Event listening = this.services.awaitFrom(child.pid(), "LISTENING", WAIT);
			assertThat(listening.get("inherited")).as("handed over, not bound anew").isEqualTo("true");
			InetSocketAddress address = (InetSocketAddress) parse(closed);
			try (Socket socket = new Socket(address.getAddress(), address.getPort())) {
				socket.setSoTimeout(10_000);
				assertThat(readLine(socket)).isEqualTo(Long.toString(child.pid()));
			}
			assertThat(askPid()).isIn(parent.pid(), child.pid());
		}
		finally {
			for (Socket client : clients) {
				client.close();
			}
		}
	}

	@Test
	void newProcessThatStopsBeforeReadyLeavesTheSocketFileTheOldOneServes() throws Exception {
		Path unix = this.directory.resolve("service.sock");
		Event parent = this.services.start("unix=" + unix, "child=stop");

		assertThat(this.services.control(parent, "upgrade")).startsWith("FAILED CHILD_EXITED").contains("exit=5");

		assertThat(unix).as("the old process still serves it").exists();
		assertThat(askUnix(unix)).isEqualTo(parent.pid());
		assertThat(this.services.control(parent, "stop")).isEqualTo("OK");
		this.services.awaitGone(parent.pid(), WAIT);
		assertThat(unix).as("removed by the last process that served it").doesNotExist();
	}

	@Test
	void childThatExitsCleanlyBeforeReadyFailsTheUpgrade() throws Exception {
		Event parent = this.services.start("tcp=" + this.tcp, "child=exit0");

		assertThat(this.services.control(parent, "upgrade")).startsWith("FAILED CHILD_EXITED").contains("exit=0");
		assertThat(askPid()).isEqualTo(parent.pid());
	}

	@Test
	void waitForParentReturnsOnceTheParentExited() throws Exception {
		Event parent = this.services.start("tcp=" + this.tcp, "linger-ms=3000");
		assertThat(this.services.control(parent, "upgrade")).isEqualTo("OK");
		Event child = this.services.awaitOther("READY", parent.pid(), WAIT);

		this.services.awaitFrom(child.pid(), "PARENT-EXITED", WAIT);
		// The parent's end of the connection closes as its exit begins; the kernel, and the test's JVM that reaps
		// it, take a moment more before its pid is gone (on a slow machine it was still there when asked at once).
		// Well under the 3 s it would still live had waitForParent returned when it called exit().
		this.services.awaitGone(parent.pid(), Duration.ofMillis(1000));
	}

	@Test
	void connectionsAndFilesAreHandedOverByName() throws Exception {
		Path file = this.directory.resolve("shared.log");
		try (ServerSocket peer = new ServerSocket(0, 5, InetAddress.getLoopbackAddress())) {
			Event parent = this.services.start("conn=127.0.0.1:" + peer.getLocalPort(), "file=" + file);
			try (Socket accepted = peer.accept()) {
				accepted.setSoTimeout(30_000);
				BufferedReader reader = new BufferedReader(new InputStreamReader(accepted.getInputStream(),
						StandardCharsets.US_ASCII));
				assertThat(reader.readLine()).isEqualTo(parent.pid() + " inherited=false");

				assertThat(this.services.control(parent, "upgrade")).isEqualTo("OK");
				Event child = this.services.awaitOther("READY", parent.pid(), WAIT);

				assertThat(reader.readLine()).as("the same connection, written by the new process")
					.isEqualTo(child.pid() + " inherited=true");
				assertThat(this.services.awaitFrom(child.pid(), "FILE", WAIT).get("files")).isEqualTo("[log]");
				assertThat(Files.readAllLines(file)).containsExactly(parent.pid() + " inherited=false",
						child.pid() + " inherited=true");
			}
		}
	}

	@Test
	void pidFileGivenAsABareFileNameIsWrittenInTheWorkingDirectory() throws Exception {
		Path pidFile = Path.of(System.getProperty("user.dir"), "bare-name-" + ProcessHandle.current().pid() + ".pid");
		try {
			Event parent = this.services.start("tcp=" + this.tcp, "pidfile=" + pidFile.getFileName());
			assertThat(Files.readString(pidFile)).isEqualTo(parent.pid() + "\n");
			assertThat(this.services.control(parent, "upgrade")).isEqualTo("OK");
			Event child = this.services.awaitOther("READY", parent.pid(), WAIT);
			assertThat(Files.readString(pidFile)).isEqualTo(child.pid() + "\n");
		}
		finally {
			Files.deleteIfExists(pidFile);
		}
	}

	@Test
	void childThatCrashesDuringInitLeavesParentServing() throws Exception {
		Event parent = this.services.start("tcp=" + this.tcp, "child=crash");

		String reply = this.services.control(parent, "upgrade");

		assertThat(reply).startsWith("FAILED CHILD_EXITED").contains("exit=3");
		assertThat(askPid()).isEqualTo(parent.pid());
		assertThat(this.services.control(parent, "upgrade")).as("a failed upgrade can be retried")
			.startsWith("FAILED CHILD_EXITED");
	}

	@Test
	void upgradeToAMissingJarIsRefusedBeforeAnyProcessStarts() throws Exception {
		Path jar = this.directory.resolve("next-version.jar");
		Event parent = this.services.start("tcp=" + this.tcp, "child-jar=" + jar);

		String reply = this.services.control(parent, "upgrade");

		assertThat(reply).startsWith("FAILED COMMAND_NOT_RUNNABLE child=-1").contains(jar.toString());
		assertThat(askPid()).isEqualTo(parent.pid());
	}

	@Test
	void childThatReportsItWillNotServeFailsTheUpgradeWithItsReason() throws Exception {
		Event parent = this.services.start("tcp=" + this.tcp, "child=fail");

		String reply = this.services.control(parent, "upgrade");

		assertThat(reply).startsWith("FAILED CHILD_FAILED").contains("will not serve: warm-up answered 500");
		assertThat(askPid()).isEqualTo(parent.pid());
	}

	@Test
	void childThatNeverBecomesReadyIsKilledAtTheTimeout() throws Exception {
		Event parent = this.services.start("tcp=" + this.tcp, "child=hang", "timeout-ms=3000");

		String reply = this.services.control(parent, "upgrade");

		assertThat(reply).startsWith("FAILED TIMED_OUT");
		long child = childPid(reply);
		assertThat(ServiceProcesses.alive(child)).as("the hanging child is gone").isFalse();
		assertThat(askPid()).isEqualTo(parent.pid());
	}

	@Test
	void secondConcurrentUpgradeIsRefusedAndStopKillsTheChild() throws Exception {
		Event parent = this.services.start("tcp=" + this.tcp, "child=hang", "timeout-ms=60000", "linger-ms=3000");
		CompletableFuture<String> first = CompletableFuture.supplyAsync(() -> control(parent, "upgrade"));
		Event hanging = this.services.awaitOther("HANGING", parent.pid(), WAIT);

		assertThat(this.services.control(parent, "upgrade")).startsWith("FAILED IN_PROGRESS");
		assertThat(this.services.control(parent, "stop")).isEqualTo("OK");

		assertThat(first.get()).startsWith("FAILED STOPPED");
		assertThat(ServiceProcesses.alive(hanging.pid())).as("stop() kills the child").isFalse();
		this.services.awaitGone(parent.pid(), WAIT); // the service exits on exit(), which stop() completes
	}

	@Test
	void readyWritesThePidFileAtomicallyAndTheUpgradeMovesIt() throws Exception {
		Path pidFile = this.directory.resolve("run").resolve("service.pid");
		Files.createDirectories(pidFile.getParent());
		Event parent = this.services.start("tcp=" + this.tcp, "pidfile=" + pidFile);
		assertThat(Files.readString(pidFile)).isEqualTo(parent.pid() + "\n");

		assertThat(this.services.control(parent, "upgrade")).isEqualTo("OK");
		Event child = this.services.awaitOther("READY", parent.pid(), WAIT);

		assertThat(Files.readString(pidFile)).as("written before the parent's upgrade() returned")
			.isEqualTo(child.pid() + "\n");
		try (Stream<Path> files = Files.list(pidFile.getParent())) {
			assertThat(files).as("no temporary file is left behind").containsExactly(pidFile);
		}
	}

	@Test
	void childHoldsNothingOfTheParentButTheHandedOverDescriptors() throws Exception {
		Event parent = this.services.start("tcp=" + this.tcp, "linger-ms=1000");
		List<Socket> clients = new ArrayList<>();
		try {
			for (int i = 0; i < 3; i++) {
				Socket client = connect();
				assertThat(readLine(client)).isEqualTo(Long.toString(parent.pid()));
				clients.add(client); // held open by the parent while it spawns the child
			}
			Set<String> parentSockets = sockets(parent.pid());
			String listener = this.listenerInode(parent.pid());

			assertThat(this.services.control(parent, "upgrade")).isEqualTo("OK");
			Event child = this.services.awaitOther("READY", parent.pid(), WAIT);

			Set<String> shared = new HashSet<>(sockets(child.pid()));
			shared.retainAll(parentSockets);
			assertThat(shared).as("the only socket of the parent in the child is the listener").containsExactly(listener);

			this.services.awaitGone(parent.pid(), WAIT);
			for (Socket client : clients) {
				client.setSoTimeout(10_000);
				assertThat(client.getInputStream().read())
					.as("the parent's connection closes for good when it exits: no copy leaked").isEqualTo(-1);
			}
		}
		finally {
			for (Socket client : clients) {
				client.close();
			}
		}
	}

	@Test
	void malformedHandshakeIsReportedByNameAndTheParentKeepsServing() throws Exception {
		String[][] cases = { { "garbage", "not a tableflip handoff message" },
				{ "version", "protocol version 9 is not supported" }, { "token", "wrong handoff token" },
				{ "truncated", "truncated message" } };
		for (String[] malformed : cases) {
			try (ServiceProcesses services = new ServiceProcesses(this.directory)) {
				Event parent = services.start("tcp=" + this.tcp,
						"child-main=dev.tableflip.fixture.ForeignChild:" + malformed[0]);

				String reply = services.control(parent, "upgrade");

				assertThat(reply).as(malformed[0]).startsWith("FAILED HANDSHAKE_FAILED").contains(malformed[1]);
				assertThat(askPid()).isEqualTo(parent.pid());
				assertThat(ServiceProcesses.alive(childPid(reply))).isFalse();
			}
		}
	}

	@Test
	void chainedUpgradesHandOverFromParentToChildToGrandchild() throws Exception {
		Event first = this.services.start("tcp=" + this.tcp);
		assertThat(this.services.awaitFrom(first.pid(), "STARTED", WAIT).get("generation")).isEqualTo("1");

		assertThat(this.services.control(first, "upgrade")).isEqualTo("OK");
		Event second = this.services.awaitOther("READY", first.pid(), WAIT);
		this.services.awaitGone(first.pid(), WAIT);

		assertThat(this.services.control(second, "upgrade")).isEqualTo("OK");
		Event third = this.services.await(
				(event) -> event.name().equals("READY") && event.pid() != first.pid() && event.pid() != second.pid(),
				WAIT);
		this.services.awaitGone(second.pid(), WAIT);

		assertThat(this.services.awaitFrom(second.pid(), "STARTED", WAIT).get("generation")).isEqualTo("2");
		assertThat(this.services.awaitFrom(third.pid(), "STARTED", WAIT).get("generation")).isEqualTo("3");
		assertThat(askPid()).isEqualTo(third.pid());
	}

	@Test
	void lineageCarriesCauseCountersAndLastFailureAcrossGenerations() throws Exception {
		Event first = this.services.start("tcp=" + this.tcp, "linger-ms=3000",
				"fail-once=" + this.directory.resolve("failed-once"));
		Map<String, String> started = this.services.awaitFrom(first.pid(), "STARTED", WAIT).details();
		assertThat(started).containsEntry("generation", "1")
			.containsEntry("cause", "start")
			.containsEntry("succeeded", "0")
			.containsEntry("last-failure", "none");

		assertThat(this.services.control(first, "upgrade endpoint")).startsWith("FAILED CHILD_FAILED");
		assertThat(this.services.control(first, "upgrade signal")).isEqualTo("OK");
		Event second = this.services.awaitOther("READY", first.pid(), WAIT);
		assertThat(this.services.control(second, "upgrade")).as("refused while its parent lingers")
			.startsWith("FAILED PARENT_NOT_EXITED");
		this.services.awaitGone(first.pid(), WAIT);
		assertThat(this.services.control(second, "upgrade")).isEqualTo("OK");
		Event third = this.services.await(
				(event) -> event.name().equals("READY") && event.pid() != first.pid() && event.pid() != second.pid(),
				WAIT);

		assertThat(this.services.awaitFrom(second.pid(), "STARTED", WAIT).details()).containsEntry("generation", "2")
			.containsEntry("cause", "signal")
			.containsEntry("succeeded", "1")
			.containsEntry("failed", "1")
			.containsEntry("refused", "0")
			.containsEntry("last-failure", "1:CHILD_FAILED")
			.containsEntry("first-started", started.get("first-started"));
		assertThat(this.services.awaitFrom(third.pid(), "STARTED", WAIT).details()).containsEntry("generation", "3")
			.containsEntry("cause", "api")
			.containsEntry("succeeded", "2")
			.containsEntry("failed", "1")
			.containsEntry("refused", "1")
			.containsEntry("last-failure", "1:CHILD_FAILED")
			.containsEntry("first-started", started.get("first-started"));
	}

	@Test
	void childRefusesToUpgradeBeforeItsParentExited() throws Exception {
		Event parent = this.services.start("tcp=" + this.tcp, "linger-ms=5000");
		assertThat(this.services.control(parent, "upgrade")).isEqualTo("OK");
		Event child = this.services.awaitOther("READY", parent.pid(), WAIT);

		assertThat(this.services.control(child, "upgrade")).startsWith("FAILED PARENT_NOT_EXITED");
	}

	private String control(Event service, String command) {
		try {
			return this.services.control(service, command);
		}
		catch (IOException ex) {
			throw new IllegalStateException(ex);
		}
	}

	private Socket connect() throws IOException {
		InetSocketAddress address = (InetSocketAddress) parse(this.tcp);
		Socket socket = new Socket(address.getAddress(), address.getPort());
		socket.setSoTimeout(10_000);
		return socket;
	}

	private long askPid() throws IOException {
		try (Socket socket = connect()) {
			return Long.parseLong(readLine(socket));
		}
	}

	private static long askUnix(Path path) throws IOException {
		try (SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX)) {
			channel.connect(UnixDomainSocketAddress.of(path));
			ByteBuffer buffer = ByteBuffer.allocate(64);
			while (buffer.position() == 0 || buffer.get(buffer.position() - 1) != '\n') {
				if (channel.read(buffer) < 0) {
					break;
				}
			}
			return Long.parseLong(new String(buffer.array(), 0, buffer.position(), StandardCharsets.US_ASCII).trim());
		}
	}

	private static long askUdp(String address) throws IOException {
		try (DatagramChannel channel = DatagramChannel.open()) {
			channel.socket().setSoTimeout(5_000);
			channel.connect(parse(address));
			channel.write(ByteBuffer.wrap("pid?".getBytes(StandardCharsets.US_ASCII)));
			ByteBuffer reply = ByteBuffer.allocate(64);
			java.net.DatagramPacket packet = new java.net.DatagramPacket(reply.array(), reply.capacity());
			channel.socket().receive(packet);
			return Long.parseLong(new String(packet.getData(), 0, packet.getLength(), StandardCharsets.US_ASCII));
		}
	}

	private static String readLine(Socket socket) throws IOException {
		return new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.US_ASCII)).readLine();
	}

	private static long childPid(String reply) {
		for (String word : reply.split(" ")) {
			if (word.startsWith("child=")) {
				return Long.parseLong(word.substring("child=".length()));
			}
		}
		throw new AssertionError("no child pid in: " + reply);
	}

	/** The inodes of the sockets a process holds, from {@code /proc/<pid>/fd}. */
	private static Set<String> sockets(long pid) throws IOException {
		Set<String> sockets = new HashSet<>();
		try (Stream<Path> fds = Files.list(Path.of("/proc", Long.toString(pid), "fd"))) {
			for (Path fd : fds.toList()) {
				int number = Integer.parseInt(fd.getFileName().toString());
				try {
					String target = Files.readSymbolicLink(fd).toString();
					if (number > 2 && target.startsWith("socket:")) {
						sockets.add(target);
					}
				}
				catch (IOException ex) {
					// closed meanwhile
				}
			}
		}
		return sockets;
	}

	/** The inode of the listener, found in /proc/net/tcp[6] as the socket listening on our port. */
	private String listenerInode(long pid) throws IOException {
		int port = ((InetSocketAddress) parse(this.tcp)).getPort();
		String hexPort = String.format(":%04X", port);
		List<String> lines = new ArrayList<>();
		for (String table : List.of("tcp", "tcp6")) {
			lines.addAll(Files.readAllLines(Path.of("/proc", Long.toString(pid), "net", table)));
		}
		for (String line : lines) {
			String[] fields = line.trim().split("\\s+");
			if (fields.length > 9 && fields[1].endsWith(hexPort) && fields[3].equals("0A")) {
				return "socket:[" + fields[9] + "]";
			}
		}
		throw new AssertionError("no listener on " + this.tcp);
	}

	private static java.net.SocketAddress parse(String address) {
		int colon = address.lastIndexOf(':');
		return new InetSocketAddress(address.substring(0, colon), Integer.parseInt(address.substring(colon + 1)));
	}

	private static int freeUdpPort() throws IOException {
		try (DatagramChannel channel = DatagramChannel.open()) {
			channel.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
			return ((InetSocketAddress) channel.getLocalAddress()).getPort();
		}
	}

}
