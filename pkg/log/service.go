package log

import (
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// ServiceEncoderConfig is the JSON encoding every service uses on fd 2.
func ServiceEncoderConfig() zapcore.EncoderConfig {
	return zapcore.EncoderConfig{
		TimeKey:        "ts",
		LevelKey:       "level",
		MessageKey:     "msg",
		NameKey:        "logger",
		StacktraceKey:  "stack",
		LineEnding:     "\n",
		EncodeLevel:    zapcore.LowercaseLevelEncoder,
		EncodeTime:     zapcore.EpochTimeEncoder,
		EncodeDuration: zapcore.StringDurationEncoder,
	}
}

// NewService returns the logger of a service process: JSON lines on fd 2 at
// the given minimum level ("debug" enables debug lines).
func NewService(level zapcore.Level) *zap.Logger {
	core := zapcore.NewCore(zapcore.NewJSONEncoder(ServiceEncoderConfig()),
		zapcore.Lock(os.Stderr), level)
	return zap.New(core)
}
