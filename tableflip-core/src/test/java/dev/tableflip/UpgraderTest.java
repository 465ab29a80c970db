package dev.tableflip;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.DatagramChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletionException;

import dev.tableflip.Descriptor.Kind;
import dev.tableflip.UpgradeException.Reason;
import dev.tableflip.fixture.CreateUpgrader;
import dev.tableflip.fixture.ServiceProcesses;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatExceptionOfType;
import static org.assertj.core.api.Assertions.assertThatIllegalArgumentException;
import static org.assertj.core.api.Assertions.assertThatIllegalStateException;

/** The upgrader of the test JVM itself: lifecycle rules that need no second process. */
class UpgraderTest {

	@TempDir
	Path directory;

	@Test
	void secondUpgraderIsRefusedUntilTheFirstIsStopped() throws IOException {
		Upgrader first = Upgrader.create(UpgraderOptions.defaults());
		try {
			assertThatIllegalStateException().isThrownBy(() -> Upgrader.create(UpgraderOptions.defaults()))
				.withMessageContaining("already has a live Upgrader");
		}
		finally {
			first.stop();
		}
		Upgrader.create(UpgraderOptions.defaults()).stop();
	}

	@Test
	void freshProcessHasNoParentAndIsGenerationOne() throws Exception {
		Upgrader upgrader = Upgrader.create(UpgraderOptions.defaults());
		try {
			assertThat(upgrader.hasParent()).isFalse();
			assertThat(upgrader.generation()).isEqualTo(1);
			upgrader.waitForParent(Duration.ofMillis(1)); // returns at once
		}
		finally {
			upgrader.stop();
		}
	}

	@Test
	void upgradeBeforeReadyIsRefused() throws IOException {
		Upgrader upgrader = Upgrader.create(UpgraderOptions.defaults());
		try {
			assertThatExceptionOfType(UpgradeException.class).isThrownBy(upgrader::upgrade)
				.satisfies((ex) -> assertThat(ex.reason()).isEqualTo(Reason.NOT_READY));
		}
		finally {
			upgrader.stop();
		}
	}

	@Test
	void upgradeAfterStopIsRefusedAndExitCompletes() throws IOException {
		Upgrader upgrader = Upgrader.create(UpgraderOptions.defaults());
		upgrader.ready();
		upgrader.stop();
		assertThat(upgrader.exit()).isCompleted();
		assertThatExceptionOfType(CompletionException.class).isThrownBy(() -> upgrader.upgradeAsync().join())
			.satisfies((ex) -> assertThat(((UpgradeException) ex.getCause()).reason()).isEqualTo(Reason.STOPPED));
	}

	@Test
	void stopWithoutUpgradeRemovesUnixSocketFiles() throws IOException {
		Path socket = this.directory.resolve("app.sock");
		Upgrader upgrader = Upgrader.create(UpgraderOptions.defaults());
		try (ServerSocketChannel listener = upgrader.fds().listen(UnixDomainSocketAddress.of(socket))) {
			assertThat(socket).exists();
			upgrader.stop();
			assertThat(socket).doesNotExist();
		}
	}

	@Test
	void listenerOnPortZeroIsRegisteredUnderTheBoundPort() throws IOException {
		Upgrader upgrader = Upgrader.create(UpgraderOptions.defaults());
		try (ServerSocketChannel listener = upgrader.fds().listen("tcp4", "127.0.0.1:0")) {
			int port = ((InetSocketAddress) listener.getLocalAddress()).getPort();
			assertThat(upgrader.fds().used())
				.containsExactly(new Descriptor(Kind.LISTENER, "tcp4", "127.0.0.1:" + port));
		}
		finally {
			upgrader.stop();
		}
	}

	@Test
	void readyWritesThePidFileRelativeToTheWorkingDirectory() throws IOException {
		Path pidFile = this.directory.resolve("app.pid");
		Upgrader upgrader = Upgrader.create(UpgraderOptions.defaults().withPidFile(pidFile));
		try {
			upgrader.ready();
			assertThat(Files.readString(pidFile, StandardCharsets.US_ASCII).trim())
				.isEqualTo(Long.toString(ProcessHandle.current().pid()));
		}
		finally {
			upgrader.stop();
		}
	}

	@Test
	void listenConfigSetsItsOptionsOnEverySocketTheRegistryCreates() throws IOException {
		ListenConfig config = ListenConfig.defaults().withBacklog(7).withOption(StandardSocketOptions.SO_RCVBUF, 96 * 1024);
		Upgrader upgrader = Upgrader.create(UpgraderOptions.defaults().withListenConfig(config));
		try {
			ServerSocketChannel listener = upgrader.fds().listen("tcp", "127.0.0.1:0");
			DatagramChannel udp = upgrader.fds().listenPacket("udp", "127.0.0.1:0");
			// Linux doubles what it is asked for, for its own bookkeeping.
			assertThat(listener.getOption(StandardSocketOptions.SO_RCVBUF)).isGreaterThanOrEqualTo(96 * 1024);
			assertThat(udp.getOption(StandardSocketOptions.SO_RCVBUF)).isGreaterThanOrEqualTo(96 * 1024);
		}
		finally {
			upgrader.stop();
		}
	}

	@Test
	void unsupportedNetworksAreNamed() {
		Fds fds = Upgrader.stub().fds();
		assertThatIllegalArgumentException().isThrownBy(() -> fds.listen("udp", ":0"))
			.withMessageContaining("unsupported network 'udp' for a listener: use tcp, tcp4, tcp6 or unix");
		assertThatIllegalArgumentException().isThrownBy(() -> fds.listenPacket("unixgram", "/tmp/x"))
			.withMessageContaining("the JDK has no UNIX datagram channels");
		assertThatIllegalArgumentException().isThrownBy(() -> fds.listen("tcp", "localhost"))
			.withMessageContaining("not host:port");
	}

	@Test
	void badOptionsAreRefused() {
		assertThatIllegalArgumentException()
			.isThrownBy(() -> UpgraderOptions.defaults().withUpgradeTimeout(Duration.ZERO))
			.withMessageContaining("upgrade timeout must be positive");
		assertThatIllegalArgumentException().isThrownBy(() -> ListenConfig.defaults().withBacklog(-1))
			.withMessageContaining("backlog");
	}

	@Test
	void stubBindsSocketsButNeverUpgrades() throws IOException {
		Upgrader stub = Upgrader.stub();
		try (ServerSocketChannel listener = stub.fds().listen("tcp", "127.0.0.1:0")) {
			assertThat(listener.getLocalAddress()).isNotNull();
			stub.ready();
			assertThatExceptionOfType(UpgradeException.class).isThrownBy(stub::upgrade)
				.satisfies((ex) -> assertThat(ex.reason()).isEqualTo(Reason.UNSUPPORTED));
			assertThat(stub.exit()).isNotDone();
			stub.stop();
			assertThat(stub.exit()).isCompleted();
		}
	}

	@Test
	void missingAddOpensFlagIsNamedAtCreate() throws Exception {
		List<String> command = ServiceProcesses.javaCommand(CreateUpgrader.class.getName(), false);
		Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
		try {
			String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
			assertThat(process.waitFor()).as(output).isEqualTo(2);
			assertThat(output).contains("REFUSED")
				.contains("--add-opens java.base/sun.nio.ch=ALL-UNNAMED")
				.contains("Add-Opens: java.base/sun.nio.ch");
		}
		finally {
			process.destroyForcibly();
		}
	}

}
