package authproto

import "strings"

// ParseFields turns protocol arguments into fields: "key=value" splits at the
// first '=', an argument without '=' is a flag.
func ParseFields(args []string) Fields {
	if len(args) == 0 {
		return nil
	}
	f := make(Fields, 0, len(args))
	for _, a := range args {
		if k, v, ok := strings.Cut(a, "="); ok {
			f = append(f, Field{Key: k, Value: v, HasValue: true})
		} else {
			f = append(f, Field{Key: a})
		}
	}
	return f
}

// Args renders the fields as protocol arguments (unescaped; FormatLine
// escapes).
func (f Fields) Args() []string {
	out := make([]string, len(f))
	for i, x := range f {
		out[i] = x.String()
	}
	return out
}

// String renders one field as "key=value" or "key".
func (x Field) String() string {
	if x.HasValue {
		return x.Key + "=" + x.Value
	}
	return x.Key
}

// Get returns the value of the first field named key.
func (f Fields) Get(key string) (string, bool) {
	for _, x := range f {
		if x.Key == key {
			return x.Value, true
		}
	}
	return "", false
}

// Has reports whether a field named key is present (flag or key=value).
func (f Fields) Has(key string) bool {
	_, ok := f.Get(key)
	return ok
}

// Add appends key=value.
func (f *Fields) Add(key, value string) {
	*f = append(*f, Field{Key: key, Value: value, HasValue: true})
}

// AddFlag appends a bare flag.
func (f *Fields) AddFlag(key string) {
	*f = append(*f, Field{Key: key})
}

// Set replaces the value of every field named key, or appends it.
func (f *Fields) Set(key, value string) {
	found := false
	for i := range *f {
		if (*f)[i].Key == key {
			(*f)[i] = Field{Key: key, Value: value, HasValue: true}
			found = true
		}
	}
	if !found {
		f.Add(key, value)
	}
}

// Del removes every field named key.
func (f *Fields) Del(key string) {
	out := (*f)[:0]
	for _, x := range *f {
		if x.Key != key {
			out = append(out, x)
		}
	}
	*f = out
}
