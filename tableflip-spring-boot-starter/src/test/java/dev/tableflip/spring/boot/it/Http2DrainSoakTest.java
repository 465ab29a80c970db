package dev.tableflip.spring.boot.it;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import dev.tableflip.testsupport.ApplicationProcesses;
import dev.tableflip.testsupport.Http2Load;
import dev.tableflip.testsupport.HttpLoad;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.io.TempDir;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Many upgrades in a row under an HTTPS and HTTP/2 load, and nothing else: a soak test of the
 * handover and the drain, for a race too rare for the lives (each holds two drains). Not part
 * of the suite: run it when a change touches the drain, with the number of upgrades and the
 * server ({@code servlet} for Tomcat, {@code reactive} for Reactor Netty):
 * <pre>
 * ./mvnw -pl tableflip-spring-boot-starter -am test -Dtest=Http2DrainSoakTest \
 *     -Dsurefire.failIfNoSpecifiedTests=false -Dsoak.upgrades=30 -Dsoak.web=servlet
 * </pre>
 * On 2 cores an upgrade takes 10 to 15 s under this load.
 */
@EnabledIfSystemProperty(named = "soak.upgrades", matches = "\\d+")
class Http2DrainSoakTest {

	private static final Duration WAIT = Duration.ofSeconds(90);

	@Test
	void upgradesInARowUnderHttp2LoadLoseNothing(@TempDir Path directory) throws Exception {
		int upgrades = Integer.getInteger("soak.upgrades");
		int port = ApplicationProcesses.freePort();
		int management = ApplicationProcesses.freePort();
		Path keyStore = UpgradeUnderLoadTests.keyStore(directory, "soak");
		List<String> arguments = new ArrayList<>(List.of(
				"--spring.main.web-application-type=" + System.getProperty("soak.web", "servlet"),
				"--server.port=" + port, "--management.server.port=" + management,
				"--management.server.address=127.0.0.1", "--management.endpoints.web.exposure.include=tableflip",
				"--management.endpoint.tableflip.access=unrestricted", "--tableflip.pid-file=" + directory.resolve("app.pid"),
				"--tableflip.takeover.overlap=3s", "--server.http2.enabled=true", "--server.ssl.bundle=web",
				"--spring.ssl.bundle.jks.web.keystore.location=file:" + keyStore,
				"--spring.ssl.bundle.jks.web.keystore.password=secret",
				"--spring.ssl.bundle.jks.web.keystore.type=PKCS12"));
		if (System.getProperty("soak.web", "servlet").equals("reactive")) {
			// as in ReactorNettyUpgradeTest: with Tomcat on the class path too, Boot defines the
			// reactive management child context factory twice
			arguments.add("--spring.autoconfigure.exclude=org.springframework.boot.tomcat.autoconfigure.actuate.web.server."
					+ "TomcatReactiveManagementContextAutoConfiguration");
		}
		try (ApplicationProcesses processes = new ApplicationProcesses(directory)) {
			processes.overTls();
			long current = processes.start(port,
					ApplicationProcesses.command(UpgradableApplication.class, List.of(), arguments), null);
			try (HttpLoad load = new HttpLoad(ApplicationProcesses.address(port), true, "/", 4, 2);
					Http2Load http2 = new Http2Load(ApplicationProcesses.address(port), true, "/", 4, 2)) {
				Thread.sleep(500);
				for (int upgrade = 1; upgrade <= upgrades; upgrade++) {
					long old = current;
					HttpLoad.Response response = HttpLoad.request(ApplicationProcesses.address(management), true, "POST",
							"/actuator/tableflip/upgrade");
					assertThat(response.status()).as(response.body()).isEqualTo(200);
					current = processes.awaitServedBy(port, (pid) -> pid != old, WAIT);
					processes.track(current);
					processes.awaitGone(old, WAIT);
					System.out.println("soak: upgrade " + upgrade + " of " + upgrades + ", " + load.summary() + "; "
							+ http2.summary());
					assertThat(load.failed() + http2.failed()).as(load.summary() + "\n" + http2.summary() + "\n"
							+ processes.output()).isZero();
				}
				load.close();
				http2.close();
				assertThat(load.failed() + http2.failed()).as(load.summary() + "\n" + http2.summary()).isZero();
			}
		}
	}

}
