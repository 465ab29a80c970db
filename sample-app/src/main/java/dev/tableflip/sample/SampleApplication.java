package dev.tableflip.sample;

import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;

import dev.tableflip.spring.boot.DrainListener;
import dev.tableflip.spring.boot.TableflipUpgrader;
import io.netty.channel.ChannelOption;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.publisher.Sinks;

import org.springframework.beans.factory.ObjectProvider;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.ApplicationRunner;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBooleanProperty;
import org.springframework.boot.reactor.netty.NettyServerCustomizer;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.context.annotation.Bean;
import org.springframework.http.MediaType;
import org.springframework.http.codec.ServerSentEvent;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RequestHeader;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;

/**
 * A small service to try zero-downtime upgrades on. {@code GET /} says which process
 * answered, of which generation, with which greeting ({@code sample.greeting}); {@code GET
 * /slow?ms=N} answers after N milliseconds, to watch the old process finish its requests;
 * {@code GET /events} is a stream of server-sent events that ends when the process drains, and
 * goes on where it left off in the new process when the client resumes with
 * {@code Last-Event-ID}.
 */
@SpringBootApplication
@RestController
public class SampleApplication {

	private final Instant startedAt = Instant.now();

	private final ObjectProvider<TableflipUpgrader> upgrader;

	private final String greeting;

	SampleApplication(ObjectProvider<TableflipUpgrader> upgrader, @Value("${sample.greeting:hello}") String greeting) {
		this.upgrader = upgrader;
		this.greeting = greeting;
	}

	@GetMapping("/")
	Map<String, Object> hello() {
		Map<String, Object> body = new LinkedHashMap<>();
		body.put("pid", ProcessHandle.current().pid());
		TableflipUpgrader upgrader = this.upgrader.getIfAvailable();
		body.put("generation", (upgrader != null) ? upgrader.generation() : 1);
		body.put("greeting", this.greeting);
		body.put("startedAt", this.startedAt.toString());
		return body;
	}

	@GetMapping("/slow")
	Mono<Map<String, Object>> slow(@RequestParam(defaultValue = "1000") long ms) {
		return Mono.delay(Duration.ofMillis(ms)).map((tick) -> Map.of("pid", ProcessHandle.current().pid(), "slept", ms));
	}

	/** Completes when this process drains after an upgrade: every event stream ends then. */
	private final Sinks.Empty<Void> draining = Sinks.empty();

	/**
	 * Server-sent events, one every 100 ms: event {@code n} is {@code "tick n from <pid>"} with
	 * id {@code n}. A client that resumes with {@code Last-Event-ID: n} gets {@code n + 1}
	 * onwards, from whichever process serves it: the events are a sequence every process knows,
	 * as a real service's would come from its event log.
	 */
	@GetMapping(path = "/events", produces = MediaType.TEXT_EVENT_STREAM_VALUE)
	Flux<ServerSentEvent<String>> events(@RequestHeader(name = "Last-Event-ID", defaultValue = "0") long lastEventId) {
		long pid = ProcessHandle.current().pid();
		return Flux.interval(Duration.ZERO, Duration.ofMillis(100))
			.map((tick) -> lastEventId + 1 + tick)
			.map((id) -> ServerSentEvent.builder("tick " + id + " from " + pid).id(Long.toString(id)).build())
			.takeUntilOther(this.draining.asMono());
	}

	/** Ends the event streams when this process drains: their clients reconnect to the new one. */
	@Bean
	DrainListener endEventStreams() {
		return (timeLeft) -> this.draining.tryEmitEmpty();
	}

	/**
	 * Delays readiness by {@code sample.startup-delay}, to try a new version that is slow to
	 * start or hangs ({@code tableflip.upgrade-timeout} then kills it).
	 */
	@Bean
	ApplicationRunner startupDelay(@Value("${sample.startup-delay:0s}") Duration delay) {
		return (arguments) -> Thread.sleep(delay.toMillis());
	}

	/**
	 * With {@code sample.reuse-port=true} (reactive, epoll), binds with {@code SO_REUSEPORT}, so
	 * that a second copy can bind beside it: the benchmark's baseline for an overlap without
	 * tableflip (run it with {@code tableflip.enabled=false}).
	 */
	@Bean
	@ConditionalOnBooleanProperty("sample.reuse-port")
	NettyServerCustomizer reusePort() {
		// UnixChannelOption.SO_REUSEPORT, by name: the native transport is on the run-time class path only.
		ChannelOption<Boolean> reusePort = ChannelOption.valueOf("io.netty.channel.unix.UnixChannelOption#SO_REUSEPORT");
		return (server) -> server.option(reusePort, true);
	}

	public static void main(String[] args) {
		SpringApplication.run(SampleApplication.class, args);
	}

}
