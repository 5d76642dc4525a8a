package queue

// The input and output shapes of the SQS actions. Field names are the SQS API model's member
// names; `json` tags give the JSON 1.0 protocol names and `query` tags the query protocol's
// flattened names, read by the protocol codecs:
//
//	query:"Name"                    a scalar parameter Name
//	query:"Name,list"               a list: Name.1, Name.2, ...
//	query:"Name,map"                a map: Name.N.Name and Name.N.Value
//	query:"Name,map=Key/Value"      a map with other key/value member names: Name.N.Key, Name.N.Value
//
// A list of structs is Name.N.<member>; a map of structs is Name.N.Name and Name.N.Value.<member>.
// In responses the same tags name the XML elements, with lists and maps flattened (repeated
// elements, no wrapper).

// MessageAttributeValue is a message attribute's type and value.
type MessageAttributeValue struct {
	DataType         string   `json:"DataType" query:"DataType"`
	StringValue      *string  `json:"StringValue,omitempty" query:"StringValue"`
	BinaryValue      []byte   `json:"BinaryValue,omitempty" query:"BinaryValue"`
	StringListValues []string `json:"StringListValues,omitempty" query:"StringListValue,list"`
	BinaryListValues [][]byte `json:"BinaryListValues,omitempty" query:"BinaryListValue,list"`
}

// CreateQueueInput is the input of CreateQueue.
type CreateQueueInput struct {
	QueueName  string            `json:"QueueName" query:"QueueName"`
	Attributes map[string]string `json:"Attributes" query:"Attribute,map"`
	Tags       map[string]string `json:"tags" query:"Tag,map=Key/Value"`
}

// CreateQueueOutput is the output of CreateQueue.
type CreateQueueOutput struct {
	QueueUrl string `json:"QueueUrl" query:"QueueUrl"`
}

// GetQueueUrlInput is the input of GetQueueUrl.
type GetQueueUrlInput struct {
	QueueName              string `json:"QueueName" query:"QueueName"`
	QueueOwnerAWSAccountId string `json:"QueueOwnerAWSAccountId" query:"QueueOwnerAWSAccountId"`
}

// GetQueueUrlOutput is the output of GetQueueUrl.
type GetQueueUrlOutput struct {
	QueueUrl string `json:"QueueUrl" query:"QueueUrl"`
}

// ListQueuesInput is the input of ListQueues.
type ListQueuesInput struct {
	QueueNamePrefix string `json:"QueueNamePrefix" query:"QueueNamePrefix"`
	MaxResults      *int32 `json:"MaxResults" query:"MaxResults"`
	NextToken       string `json:"NextToken" query:"NextToken"`
}

// ListQueuesOutput is the output of ListQueues.
type ListQueuesOutput struct {
	QueueUrls []string `json:"QueueUrls,omitempty" query:"QueueUrl,list"`
	NextToken string   `json:"NextToken,omitempty" query:"NextToken"`
}

// QueueUrlInput is the input of actions that take only a QueueUrl (DeleteQueue, PurgeQueue,
// ListQueueTags).
type QueueUrlInput struct {
	QueueUrl string `json:"QueueUrl" query:"QueueUrl"`
}

// Empty is the output of actions without a result.
type Empty struct{}

// GetQueueAttributesInput is the input of GetQueueAttributes.
type GetQueueAttributesInput struct {
	QueueUrl       string   `json:"QueueUrl" query:"QueueUrl"`
	AttributeNames []string `json:"AttributeNames" query:"AttributeName,list"`
}

// GetQueueAttributesOutput is the output of GetQueueAttributes.
type GetQueueAttributesOutput struct {
	Attributes map[string]string `json:"Attributes,omitempty" query:"Attribute,map"`
}

// SetQueueAttributesInput is the input of SetQueueAttributes.
type SetQueueAttributesInput struct {
	QueueUrl   string            `json:"QueueUrl" query:"QueueUrl"`
	Attributes map[string]string `json:"Attributes" query:"Attribute,map"`
}

// TagQueueInput is the input of TagQueue.
type TagQueueInput struct {
	QueueUrl string            `json:"QueueUrl" query:"QueueUrl"`
	Tags     map[string]string `json:"Tags" query:"Tags,map=Key/Value"`
}

// UntagQueueInput is the input of UntagQueue.
type UntagQueueInput struct {
	QueueUrl string   `json:"QueueUrl" query:"QueueUrl"`
	TagKeys  []string `json:"TagKeys" query:"TagKey,list"`
}

// ListQueueTagsOutput is the output of ListQueueTags.
type ListQueueTagsOutput struct {
	Tags map[string]string `json:"Tags,omitempty" query:"Tag,map=Key/Value"`
}

// SendMessageInput is the input of SendMessage.
type SendMessageInput struct {
	QueueUrl                string                           `json:"QueueUrl" query:"QueueUrl"`
	MessageBody             *string                          `json:"MessageBody" query:"MessageBody"`
	DelaySeconds            *int32                           `json:"DelaySeconds" query:"DelaySeconds"`
	MessageAttributes       map[string]MessageAttributeValue `json:"MessageAttributes" query:"MessageAttribute,map"`
	MessageSystemAttributes map[string]MessageAttributeValue `json:"MessageSystemAttributes" query:"MessageSystemAttribute,map"`
	MessageDeduplicationId  *string                          `json:"MessageDeduplicationId" query:"MessageDeduplicationId"`
	MessageGroupId          *string                          `json:"MessageGroupId" query:"MessageGroupId"`
}

// SendMessageOutput is the output of SendMessage.
type SendMessageOutput struct {
	MD5OfMessageBody             string `json:"MD5OfMessageBody" query:"MD5OfMessageBody"`
	MD5OfMessageAttributes       string `json:"MD5OfMessageAttributes,omitempty" query:"MD5OfMessageAttributes"`
	MD5OfMessageSystemAttributes string `json:"MD5OfMessageSystemAttributes,omitempty" query:"MD5OfMessageSystemAttributes"`
	MessageId                    string `json:"MessageId" query:"MessageId"`
	SequenceNumber               string `json:"SequenceNumber,omitempty" query:"SequenceNumber"`
}

// SendMessageBatchInput is the input of SendMessageBatch.
type SendMessageBatchInput struct {
	QueueUrl string                         `json:"QueueUrl" query:"QueueUrl"`
	Entries  []SendMessageBatchRequestEntry `json:"Entries" query:"SendMessageBatchRequestEntry,list"`
}

// SendMessageBatchRequestEntry is one entry of SendMessageBatch.
type SendMessageBatchRequestEntry struct {
	Id                      string                           `json:"Id" query:"Id"`
	MessageBody             *string                          `json:"MessageBody" query:"MessageBody"`
	DelaySeconds            *int32                           `json:"DelaySeconds" query:"DelaySeconds"`
	MessageAttributes       map[string]MessageAttributeValue `json:"MessageAttributes" query:"MessageAttribute,map"`
	MessageSystemAttributes map[string]MessageAttributeValue `json:"MessageSystemAttributes" query:"MessageSystemAttribute,map"`
	MessageDeduplicationId  *string                          `json:"MessageDeduplicationId" query:"MessageDeduplicationId"`
	MessageGroupId          *string                          `json:"MessageGroupId" query:"MessageGroupId"`
}

// SendMessageBatchOutput is the output of SendMessageBatch.
type SendMessageBatchOutput struct {
	Successful []SendMessageBatchResultEntry `json:"Successful" query:"SendMessageBatchResultEntry,list"`
	Failed     []BatchResultErrorEntry       `json:"Failed" query:"BatchResultErrorEntry,list"`
}

// SendMessageBatchResultEntry is a successful entry of SendMessageBatch.
type SendMessageBatchResultEntry struct {
	Id                           string `json:"Id" query:"Id"`
	MessageId                    string `json:"MessageId" query:"MessageId"`
	MD5OfMessageBody             string `json:"MD5OfMessageBody" query:"MD5OfMessageBody"`
	MD5OfMessageAttributes       string `json:"MD5OfMessageAttributes,omitempty" query:"MD5OfMessageAttributes"`
	MD5OfMessageSystemAttributes string `json:"MD5OfMessageSystemAttributes,omitempty" query:"MD5OfMessageSystemAttributes"`
	SequenceNumber               string `json:"SequenceNumber,omitempty" query:"SequenceNumber"`
}

// BatchResultErrorEntry is a failed entry of a batch action.
type BatchResultErrorEntry struct {
	Id          string `json:"Id" query:"Id"`
	SenderFault bool   `json:"SenderFault" query:"SenderFault"`
	Code        string `json:"Code" query:"Code"`
	Message     string `json:"Message,omitempty" query:"Message"`
}

// ReceiveMessageInput is the input of ReceiveMessage.
type ReceiveMessageInput struct {
	QueueUrl                    string   `json:"QueueUrl" query:"QueueUrl"`
	AttributeNames              []string `json:"AttributeNames" query:"AttributeName,list"`
	MessageSystemAttributeNames []string `json:"MessageSystemAttributeNames" query:"MessageSystemAttributeName,list"`
	MessageAttributeNames       []string `json:"MessageAttributeNames" query:"MessageAttributeName,list"`
	MaxNumberOfMessages         *int32   `json:"MaxNumberOfMessages" query:"MaxNumberOfMessages"`
	VisibilityTimeout           *int32   `json:"VisibilityTimeout" query:"VisibilityTimeout"`
	WaitTimeSeconds             *int32   `json:"WaitTimeSeconds" query:"WaitTimeSeconds"`
	ReceiveRequestAttemptId     *string  `json:"ReceiveRequestAttemptId" query:"ReceiveRequestAttemptId"`
}

// ReceiveMessageOutput is the output of ReceiveMessage.
type ReceiveMessageOutput struct {
	Messages []Message `json:"Messages,omitempty" query:"Message,list"`
}

// Message is a received message.
type Message struct {
	MessageId              string                           `json:"MessageId" query:"MessageId"`
	ReceiptHandle          string                           `json:"ReceiptHandle" query:"ReceiptHandle"`
	MD5OfBody              string                           `json:"MD5OfBody" query:"MD5OfBody"`
	Body                   string                           `json:"Body" query:"Body"`
	Attributes             map[string]string                `json:"Attributes,omitempty" query:"Attribute,map"`
	MD5OfMessageAttributes string                           `json:"MD5OfMessageAttributes,omitempty" query:"MD5OfMessageAttributes"`
	MessageAttributes      map[string]MessageAttributeValue `json:"MessageAttributes,omitempty" query:"MessageAttribute,map"`
}

// DeleteMessageInput is the input of DeleteMessage.
type DeleteMessageInput struct {
	QueueUrl      string `json:"QueueUrl" query:"QueueUrl"`
	ReceiptHandle string `json:"ReceiptHandle" query:"ReceiptHandle"`
}

// DeleteMessageBatchInput is the input of DeleteMessageBatch.
type DeleteMessageBatchInput struct {
	QueueUrl string                           `json:"QueueUrl" query:"QueueUrl"`
	Entries  []DeleteMessageBatchRequestEntry `json:"Entries" query:"DeleteMessageBatchRequestEntry,list"`
}

// DeleteMessageBatchRequestEntry is one entry of DeleteMessageBatch.
type DeleteMessageBatchRequestEntry struct {
	Id            string `json:"Id" query:"Id"`
	ReceiptHandle string `json:"ReceiptHandle" query:"ReceiptHandle"`
}

// batchIDEntry is the successful entry of DeleteMessageBatch and ChangeMessageVisibilityBatch.
type batchIDEntry struct {
	Id string `json:"Id" query:"Id"`
}

// DeleteMessageBatchOutput is the output of DeleteMessageBatch.
type DeleteMessageBatchOutput struct {
	Successful []DeleteMessageBatchResultEntry `json:"Successful" query:"DeleteMessageBatchResultEntry,list"`
	Failed     []BatchResultErrorEntry         `json:"Failed" query:"BatchResultErrorEntry,list"`
}

// DeleteMessageBatchResultEntry is a successful entry of DeleteMessageBatch.
type DeleteMessageBatchResultEntry = batchIDEntry

// ChangeMessageVisibilityInput is the input of ChangeMessageVisibility.
type ChangeMessageVisibilityInput struct {
	QueueUrl          string `json:"QueueUrl" query:"QueueUrl"`
	ReceiptHandle     string `json:"ReceiptHandle" query:"ReceiptHandle"`
	VisibilityTimeout *int32 `json:"VisibilityTimeout" query:"VisibilityTimeout"`
}

// ChangeMessageVisibilityBatchInput is the input of ChangeMessageVisibilityBatch.
type ChangeMessageVisibilityBatchInput struct {
	QueueUrl string                                     `json:"QueueUrl" query:"QueueUrl"`
	Entries  []ChangeMessageVisibilityBatchRequestEntry `json:"Entries" query:"ChangeMessageVisibilityBatchRequestEntry,list"`
}

// ChangeMessageVisibilityBatchRequestEntry is one entry of ChangeMessageVisibilityBatch.
type ChangeMessageVisibilityBatchRequestEntry struct {
	Id                string `json:"Id" query:"Id"`
	ReceiptHandle     string `json:"ReceiptHandle" query:"ReceiptHandle"`
	VisibilityTimeout *int32 `json:"VisibilityTimeout" query:"VisibilityTimeout"`
}

// ChangeMessageVisibilityBatchOutput is the output of ChangeMessageVisibilityBatch.
type ChangeMessageVisibilityBatchOutput struct {
	Successful []ChangeMessageVisibilityBatchResultEntry `json:"Successful" query:"ChangeMessageVisibilityBatchResultEntry,list"`
	Failed     []BatchResultErrorEntry                   `json:"Failed" query:"BatchResultErrorEntry,list"`
}

// ChangeMessageVisibilityBatchResultEntry is a successful entry of ChangeMessageVisibilityBatch.
type ChangeMessageVisibilityBatchResultEntry = batchIDEntry

// AddPermissionInput is the input of AddPermission.
type AddPermissionInput struct {
	QueueUrl      string   `json:"QueueUrl" query:"QueueUrl"`
	Label         string   `json:"Label" query:"Label"`
	AWSAccountIds []string `json:"AWSAccountIds" query:"AWSAccountId,list"`
	Actions       []string `json:"Actions" query:"ActionName,list"`
}

// RemovePermissionInput is the input of RemovePermission.
type RemovePermissionInput struct {
	QueueUrl string `json:"QueueUrl" query:"QueueUrl"`
	Label    string `json:"Label" query:"Label"`
}

// ListDeadLetterSourceQueuesInput is the input of ListDeadLetterSourceQueues.
type ListDeadLetterSourceQueuesInput struct {
	QueueUrl   string `json:"QueueUrl" query:"QueueUrl"`
	MaxResults *int32 `json:"MaxResults" query:"MaxResults"`
	NextToken  string `json:"NextToken" query:"NextToken"`
}

// ListDeadLetterSourceQueuesOutput is the output of ListDeadLetterSourceQueues. The JSON member
// is lowercase queueUrls, and it is required (present even when empty).
type ListDeadLetterSourceQueuesOutput struct {
	QueueUrls []string `json:"queueUrls" query:"QueueUrl,list"`
	NextToken string   `json:"NextToken,omitempty" query:"NextToken"`
}

// StartMessageMoveTaskInput is the input of StartMessageMoveTask.
type StartMessageMoveTaskInput struct {
	SourceArn                    string `json:"SourceArn" query:"SourceArn"`
	DestinationArn               string `json:"DestinationArn" query:"DestinationArn"`
	MaxNumberOfMessagesPerSecond *int32 `json:"MaxNumberOfMessagesPerSecond" query:"MaxNumberOfMessagesPerSecond"`
}

// StartMessageMoveTaskOutput is the output of StartMessageMoveTask.
type StartMessageMoveTaskOutput struct {
	TaskHandle string `json:"TaskHandle" query:"TaskHandle"`
}

// CancelMessageMoveTaskInput is the input of CancelMessageMoveTask.
type CancelMessageMoveTaskInput struct {
	TaskHandle string `json:"TaskHandle" query:"TaskHandle"`
}

// CancelMessageMoveTaskOutput is the output of CancelMessageMoveTask.
type CancelMessageMoveTaskOutput struct {
	ApproximateNumberOfMessagesMoved int64 `json:"ApproximateNumberOfMessagesMoved" query:"ApproximateNumberOfMessagesMoved"`
}

// ListMessageMoveTasksInput is the input of ListMessageMoveTasks.
type ListMessageMoveTasksInput struct {
	SourceArn  string `json:"SourceArn" query:"SourceArn"`
	MaxResults *int32 `json:"MaxResults" query:"MaxResults"`
}

// ListMessageMoveTasksOutput is the output of ListMessageMoveTasks.
type ListMessageMoveTasksOutput struct {
	Results []ListMessageMoveTasksResultEntry `json:"Results,omitempty" query:"ListMessageMoveTasksResultEntry,list"`
}

// ListMessageMoveTasksResultEntry describes one move task.
type ListMessageMoveTasksResultEntry struct {
	TaskHandle                        string `json:"TaskHandle,omitempty" query:"TaskHandle"`
	Status                            string `json:"Status" query:"Status"`
	SourceArn                         string `json:"SourceArn" query:"SourceArn"`
	DestinationArn                    string `json:"DestinationArn,omitempty" query:"DestinationArn"`
	MaxNumberOfMessagesPerSecond      *int32 `json:"MaxNumberOfMessagesPerSecond,omitempty" query:"MaxNumberOfMessagesPerSecond"`
	ApproximateNumberOfMessagesMoved  int64  `json:"ApproximateNumberOfMessagesMoved" query:"ApproximateNumberOfMessagesMoved"`
	ApproximateNumberOfMessagesToMove *int64 `json:"ApproximateNumberOfMessagesToMove,omitempty" query:"ApproximateNumberOfMessagesToMove"`
	FailureReason                     string `json:"FailureReason,omitempty" query:"FailureReason"`
	StartedTimestamp                  int64  `json:"StartedTimestamp" query:"StartedTimestamp"`
}
