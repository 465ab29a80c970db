package dev.tableflip.spring.boot;

import java.time.Duration;
import java.util.List;
import java.util.stream.IntStream;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class KeepAliveTests {

	private final KeepAlive keepAlive = new KeepAlive();

	private final List<Object> connections = IntStream.range(0, 1000).mapToObj((i) -> new Object()).toList();

	@Test
	void connectionsStayAliveUntilTheOverlap() {
		assertThat(ending()).isZero();
	}

	@Test
	void duringTheOverlapConnectionsEndOneAfterAnotherAndStayEnded() throws InterruptedException {
		this.keepAlive.rampDown(Duration.ofMinutes(10));
		assertThat(ending()).as("a moment into a 10 minute overlap").isLessThan(50);

		this.keepAlive.rampDown(Duration.ofMillis(300));
		Thread.sleep(400);
		assertThat(ending()).as("once the overlap is over, every connection seen during it ends").isEqualTo(1000);
	}

	@Test
	void eachConnectionEndsAtItsOwnMomentWhateverItsRequestRate() throws InterruptedException {
		this.keepAlive.rampDown(Duration.ofMillis(2000));
		ending(); // every connection gets its moment now
		Thread.sleep(1000);
		long halfway = ending();
		assertThat(halfway).as("about half of them after half the overlap").isBetween(300L, 700L);
	}

	@Test
	void whileDrainingEveryResponseEndsItsConnection() {
		this.keepAlive.end();
		assertThat(ending()).isEqualTo(1000);
	}

	@Test
	void theDrainEndsEveryConnectionAlsoThoseGivenALaterMomentInTheOverlap() {
		this.keepAlive.rampDown(Duration.ofMinutes(10));
		assertThat(ending()).isLessThan(50);
		this.keepAlive.end();
		assertThat(ending()).isEqualTo(1000);
	}

	@Test
	void aRehearsalEndsEachConnectionWithinItsLifetimeForEver() throws InterruptedException {
		KeepAlive rehearsal = KeepAlive.rehearsal(Duration.ofMillis(300));
		assertThat(this.connections.stream().filter((connection) -> endsWithin(rehearsal, connection, 40)).count())
			.as("a connection's lifetime begins at its first responses").isLessThan(100);
		Thread.sleep(400);
		assertThat(this.connections.stream().filter((connection) -> endsWithin(rehearsal, connection, 40)).count())
			.as("each connection ends at one of its next responses once its lifetime is over").isEqualTo(1000);
		List<Object> later = IntStream.range(0, 1000).mapToObj((i) -> new Object()).toList();
		assertThat(later.stream().filter(rehearsal::endsConnection).count())
			.as("connections that come later get their own lifetime").isLessThan(100);
	}

	@Test
	void aRehearsalAnswersHalfOfTheResponsesAsAProcessThatKeepsItsConnections() throws InterruptedException {
		KeepAlive rehearsal = KeepAlive.rehearsal(Duration.ofMillis(1));
		Thread.sleep(5);
		this.connections.forEach((connection) -> endsWithin(rehearsal, connection, 40)); // each one's lifetime begins
		Thread.sleep(5);
		assertThat(this.connections.stream().filter(rehearsal::endsConnection).count())
			.as("of responses on connections whose lifetime is over, the ones answered as a rehearsal")
			.isBetween(400L, 600L);
	}

	private static boolean endsWithin(KeepAlive keepAlive, Object connection, int responses) {
		return IntStream.range(0, responses).anyMatch((i) -> keepAlive.endsConnection(connection));
	}

	private long ending() {
		return this.connections.stream().filter(this.keepAlive::endsConnection).count();
	}

}
