package dev.tableflip.spring.boot.diagnostics;

import dev.tableflip.UnsupportedEnvironmentException;

import org.springframework.boot.diagnostics.AbstractFailureAnalyzer;
import org.springframework.boot.diagnostics.FailureAnalysis;

/**
 * The application cannot start with tableflip in this JVM (the {@code --add-opens} option
 * missing, not Linux, no native bindings, an unsupported JDK): what is wrong, and what to do,
 * in Spring Boot's "APPLICATION FAILED TO START" report.
 */
class UnsupportedEnvironmentFailureAnalyzer extends AbstractFailureAnalyzer<UnsupportedEnvironmentException> {

	@Override
	protected FailureAnalysis analyze(Throwable rootFailure, UnsupportedEnvironmentException cause) {
		return new FailureAnalysis(cause.problem() + ".",
				cause.action() + ". To run without zero-downtime upgrades instead, set tableflip.enabled=false.",
				cause);
	}

}
