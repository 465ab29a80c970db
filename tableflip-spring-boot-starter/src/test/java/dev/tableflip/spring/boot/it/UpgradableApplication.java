package dev.tableflip.spring.boot.it;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

import jakarta.annotation.PreDestroy;

import reactor.core.publisher.Mono;

import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.ApplicationArguments;
import org.springframework.boot.ApplicationRunner;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.context.annotation.Bean;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;

/**
 * The application the integration tests start as a real process: servlet (Tomcat) by
 * default, reactive (Reactor Netty) with {@code --spring.main.web-application-type=reactive}.
 * {@code it.fault} makes a version fail: {@code after-start}
 * two seconds after its web server started, {@code warm-up} answers 500 on {@code /warm},
 * {@code unhealthy} makes its health contributor {@code it} DOWN. {@code /warm} counts its
 * requests; {@code it.record-dir=DIR} makes each process write that count to
 * {@code DIR/warm-<pid>} when it shuts down.
 */
@SpringBootApplication
@RestController
public class UpgradableApplication {

	private final long pid = ProcessHandle.current().pid();

	@Value("${it.greeting:hello}")
	private String greeting;

	@GetMapping("/")
	Map<String, Object> pid() {
		return Map.of("pid", this.pid, "greeting", this.greeting);
	}

	private final AtomicLong warmHits = new AtomicLong();

	@Value("${it.record-dir:}")
	private String recordDirectory;

	@Value("${it.fault:}")
	private String fault;

	@GetMapping("/warm")
	ResponseEntity<Map<String, Object>> warm() {
		this.warmHits.incrementAndGet();
		return ResponseEntity.status(this.fault.equals("warm-up") ? 500 : 200).body(Map.of("pid", this.pid));
	}

	@GetMapping("/warm-hits")
	Map<String, Object> warmHits() {
		return Map.of("pid", this.pid, "warmHits", this.warmHits.get());
	}

	@PreDestroy
	void recordWarmHits() throws IOException {
		if (!this.recordDirectory.isEmpty()) {
			Files.writeString(Path.of(this.recordDirectory, "warm-" + this.pid), Long.toString(this.warmHits.get()));
		}
	}

	/** Health contributor "it": DOWN in a version with {@code it.fault=unhealthy}. */
	@Bean
	HealthIndicator itHealthIndicator() {
		boolean down = this.fault.equals("unhealthy");
		return () -> down ? Health.down().withDetail("why", "it.fault=unhealthy").build() : Health.up().build();
	}

	@Bean
	@ConditionalOnProperty(name = "it.fault", havingValue = "after-start")
	BrokenAfterStart brokenAfterStart() {
		return new BrokenAfterStart();
	}

	@GetMapping("/slow")
	Mono<Map<String, Object>> slow(@RequestParam long ms) {
		return Mono.delay(Duration.ofMillis(ms)).map((tick) -> Map.of("pid", this.pid, "slept", ms));
	}

	public static void main(String[] args) {
		SpringApplication.run(UpgradableApplication.class, args);
	}

	/** Fails two seconds after the web server started, before the application is ready. */
	static class BrokenAfterStart implements ApplicationRunner {

		@Override
		public void run(ApplicationArguments args) throws Exception {
			Thread.sleep(2000);
			throw new IllegalStateException("this version breaks after its server started");
		}

	}

}
